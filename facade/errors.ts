import { Code, ConnectError } from "@connectrpc/connect";
import type { ServerResponse } from "node:http";
import { codeToHttpStatus, codeToOpenAIErrorType, describeNetworkError, findGatewayError, findUpstreamError } from "../services/common/errors.js";
import type { OpenAIErrorBody } from "../services/common/openai-types.js";
import { redactUrlCredentialsIn } from "../services/common/redact-url.js";
import { sendJson } from "./send-json.js";
import { RequestValidationError } from "./translate/request-validation-error.js";

/** An error answer ready to write: HTTP status, OpenAI body, and Retry-After seconds for a 429. */
export interface OpenAIErrorAnswer {
  readonly status: number;
  readonly body: OpenAIErrorBody;
  readonly retryAfterSeconds?: string;
}

/** An HTTP-level refusal raised by the facade itself (body too large, not JSON, unknown route…). */
export class OpenAIHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = "OpenAIHttpError";
  }
}

// OpenAI's own wording for its 500s; a bug's details stay in our logs, never in the answer.
const genericServerMessage = "The server had an error while processing your request. Sorry about that!";
const defaultRetryAfterSeconds = "1";

/**
 * Builds `{"error":{message,type,param,code}}`. Credentials of any URL the message quotes are
 * blanked: messages are built from URLs someone configured, and this is the last place to catch one.
 */
export function openAIErrorBody(message: string, type: string, param: string | null = null, code: string | null = null): OpenAIErrorBody {
  return { error: { message: redactUrlCredentialsIn(message), type, param, code } };
}

/** A Connect error from the router → what the client sees, per the architecture's error table. */
export function errorAnswerFromConnectError(error: ConnectError): OpenAIErrorAnswer {
  // The facade's own call to a split router failed in transport: the client's library put Node's
  // error in the message, and that names the router's address.
  const unreachable = error.code === Code.Canceled ? undefined : describeNetworkError(error.cause);
  if (unreachable !== undefined) {
    const status = error.code === Code.DeadlineExceeded ? 504 : 503;
    return { status, body: openAIErrorBody(`the router is unreachable: ${unreachable}`, "server_error") };
  }
  const gateway = findGatewayError(error);
  if (gateway) {
    const status = gateway.httpStatus >= 400 && gateway.httpStatus <= 599 ? gateway.httpStatus : codeToHttpStatus(error.code);
    const body = openAIErrorBody(error.rawMessage, gateway.type || codeToOpenAIErrorType(error.code), gateway.param || null, gateway.code || null);
    return withRetryAfter(status, body, error);
  }
  const upstream = findUpstreamError(error);
  if (upstream) {
    const status = upstream.httpStatus >= 400 && upstream.httpStatus <= 599 ? upstream.httpStatus : codeToHttpStatus(error.code);
    const body = openAIErrorBody(
      upstream.message || error.rawMessage,
      upstream.type || codeToOpenAIErrorType(error.code),
      upstream.param || null,
      upstream.code || null,
    );
    return withRetryAfter(status, body, error);
  }
  const status = codeToHttpStatus(error.code);
  if (status >= 500 && status !== 503 && status !== 504 && status !== 501) {
    return { status, body: openAIErrorBody(genericServerMessage, "server_error") };
  }
  const body = openAIErrorBody(error.rawMessage, codeToOpenAIErrorType(error.code), null, defaultErrorCode(error.code));
  return withRetryAfter(status, body, error);
}

/** Any failure of a request → the answer; anything unrecognised is a bug and answers a generic 500. */
export function errorAnswerFromUnknown(error: unknown): OpenAIErrorAnswer {
  if (error instanceof ConnectError) return errorAnswerFromConnectError(error);
  if (error instanceof RequestValidationError) {
    return { status: 400, body: openAIErrorBody(error.message, "invalid_request_error", error.param, error.code) };
  }
  if (error instanceof OpenAIHttpError) {
    return { status: error.status, body: openAIErrorBody(error.message, error.type, error.param, error.code) };
  }
  const exposed = exposedHttpError(error);
  if (exposed) return exposed;
  return { status: 500, body: openAIErrorBody(genericServerMessage, "server_error") };
}

/** Writes an error answer as JSON. */
export function sendErrorAnswer(response: ServerResponse, answer: OpenAIErrorAnswer): void {
  if (answer.retryAfterSeconds !== undefined) response.setHeader("retry-after", answer.retryAfterSeconds);
  sendJson(response, answer.status, answer.body);
}

function withRetryAfter(status: number, body: OpenAIErrorBody, error: ConnectError): OpenAIErrorAnswer {
  if (status !== 429) return { status, body };
  const hinted = error.metadata.get("retry-after")?.trim();
  const retryAfterSeconds = hinted && isDigits(hinted) ? hinted : defaultRetryAfterSeconds;
  return { status, body, retryAfterSeconds };
}

function defaultErrorCode(code: Code): string | null {
  switch (code) {
    case Code.NotFound:
      return "model_not_found";
    case Code.ResourceExhausted:
      return "rate_limit_exceeded";
    case Code.Unauthenticated:
      return "invalid_api_key";
    default:
      return null;
  }
}

// Errors from express and its router (a malformed %-escape in the path…) carry a 4xx `status` and
// `expose: true` when their message is safe to show.
function exposedHttpError(error: unknown): OpenAIErrorAnswer | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { status, expose, message } = error as { status?: unknown; expose?: unknown; message?: unknown };
  if (typeof status !== "number" || status < 400 || status > 499) return undefined;
  const text = expose === true && typeof message === "string" ? message : "Bad request.";
  return { status, body: openAIErrorBody(text, "invalid_request_error") };
}

function isDigits(value: string): boolean {
  if (value.length === 0 || value.length > 10) return false;
  for (let index = 0; index < value.length; index++) {
    const code = value.charCodeAt(index);
    if (code < 48 || code > 57) return false;
  }
  return true;
}
