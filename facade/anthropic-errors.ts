import type { ServerResponse } from "node:http";
import { errorAnswerFromUnknown } from "./errors.js";
import { sendJson } from "./send-json.js";
import { RequestValidationError } from "./translate/request-validation-error.js";
import type { AnthropicErrorBody } from "./translate/anthropic/anthropic-types.js";

/** An error answer of the Anthropic Messages routes, ready to write. */
export interface AnthropicErrorAnswer {
  readonly status: number;
  readonly body: AnthropicErrorBody;
  readonly retryAfterSeconds?: string;
}

/** How a route wants some answers changed before they go out. */
export interface AnthropicErrorOptions {
  /**
   * The status for a backend that cannot do what was asked (the router's Unimplemented, 501), e.g.
   * 400 on count_tokens: the request is fine, the model cannot count; Anthropic has no 501.
   */
  readonly unimplementedStatus?: number;
}

/**
 * Anthropic's error `type` for an HTTP status, as its API and SDKs use them. A 503 (backend down,
 * every fallback failed) is `overloaded_error` like Anthropic's 529: both mean "try again later".
 */
export function anthropicErrorType(status: number): string {
  switch (status) {
    case 400:
    case 415:
    case 422:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 402:
      return "billing_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    case 504:
      return "timeout_error";
    default:
      return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
  }
}

/**
 * Any failure of an Anthropic route → its answer in Anthropic's shape. The status and message are
 * the ones the OpenAI routes answer (errors.ts holds the one mapping of Connect codes, upstream and
 * gateway errors); only the body's shape and type names differ.
 */
export function anthropicErrorAnswerFromUnknown(error: unknown, requestId: string, options: AnthropicErrorOptions = {}): AnthropicErrorAnswer {
  const answer = errorAnswerFromUnknown(error);
  const status = answer.status === 501 && options.unimplementedStatus !== undefined ? options.unimplementedStatus : answer.status;
  const body = anthropicErrorBody(status, withField(error, answer.body.error.message), requestId);
  return answer.retryAfterSeconds === undefined ? { status, body } : { status, body, retryAfterSeconds: answer.retryAfterSeconds };
}

/** `{"type":"error","error":{type,message},"request_id"}`. */
export function anthropicErrorBody(status: number, message: string, requestId: string): AnthropicErrorBody {
  return { type: "error", error: { type: anthropicErrorType(status), message }, request_id: requestId };
}

/** Anthropic names the offending field first (`messages.0.role: …`); OpenAI's wording may not name it. */
function withField(error: unknown, message: string): string {
  if (!(error instanceof RequestValidationError) || error.param === null || message.includes(`'${error.param}'`)) return message;
  return `${error.param}: ${message}`;
}

/** Writes an Anthropic error answer as JSON. */
export function sendAnthropicError(response: ServerResponse, answer: AnthropicErrorAnswer): void {
  if (answer.retryAfterSeconds !== undefined) response.setHeader("retry-after", answer.retryAfterSeconds);
  sendJson(response, answer.status, answer.body);
}
