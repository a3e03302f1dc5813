import { Code, type ConnectError } from "@connectrpc/connect";
import { codeFromHttpStatus, codeToHttpStatus, upstreamConnectError } from "../../../common/errors.js";
import { isRecord, parseJsonOrUndefined } from "../openai-compatible/json-guards.js";
import { upstreamAuthError } from "../openai-compatible/openai-error.js";
import { redactSecrets, type UpstreamErrorContext } from "../upstream/upstream-secrets.js";

// Upstream error bodies are echoed to clients; an HTML error page stops here.
const maximumMessageLength = 2000;

/**
 * Anthropic's error types (docs: API errors), each with the Connect code and the HTTP status it stands
 * for. `overloaded_error` (HTTP 529) and `api_error` are Unavailable, so the router tries the model's
 * fallbacks; the two credential errors are handled apart (upstreamAuthError).
 */
const errorTypes: ReadonlyMap<string, { code: Code; status: number }> = new Map([
  ["invalid_request_error", { code: Code.InvalidArgument, status: 400 }],
  ["authentication_error", { code: Code.Unauthenticated, status: 401 }],
  ["permission_error", { code: Code.PermissionDenied, status: 403 }],
  ["not_found_error", { code: Code.NotFound, status: 404 }],
  ["request_too_large", { code: Code.InvalidArgument, status: 413 }],
  ["rate_limit_error", { code: Code.ResourceExhausted, status: 429 }],
  ["api_error", { code: Code.Unavailable, status: 500 }],
  ["timeout_error", { code: Code.DeadlineExceeded, status: 504 }],
  ["overloaded_error", { code: Code.Unavailable, status: 529 }],
]);

/** What Anthropic said about a failure. */
interface AnthropicErrorFields {
  readonly type: string;
  readonly message: string;
}

/**
 * The Connect error for a non-2xx answer of the Messages API: `{"type":"error","error":{type,message}}`,
 * or whatever a proxy in front of it sent. The error type picks the code where Anthropic named one,
 * the status otherwise; Anthropic's error travels in an UpstreamError detail (status, message, type),
 * its text cleared of IIR's credentials. A 401 or 403 is Anthropic refusing IIR's own key: the
 * gateway's 502, never the client's 401.
 */
export function connectErrorFromAnthropicResponse(status: number, bodyText: string, context: UpstreamErrorContext): ConnectError {
  const fields = errorFieldsFrom(parseJsonOrUndefined(bodyText)) ?? plainTextFields(bodyText, status);
  const known = errorTypes.get(fields.type);
  if (status === 401 || status === 403 || known?.code === Code.Unauthenticated || known?.code === Code.PermissionDenied) {
    return upstreamAuthError(status === 403 || known?.code === Code.PermissionDenied ? 403 : 401, context);
  }
  // A 529 with no body Anthropic wrote is still the overload it stands for.
  const code = known?.code ?? (status === 529 ? Code.Unavailable : codeFromHttpStatus(status));
  return upstreamConnectError(code, { httpStatus: status, message: redact(fields.message, context), type: fields.type, param: "", code: "", provider: context.provider });
}

/**
 * The Connect error for an `event: error` inside a stream (after a 200), e.g. `overloaded_error`
 * mid-answer. Its HTTP status is the one the type stands for outside a stream.
 */
export function connectErrorFromAnthropicEvent(event: unknown, context: UpstreamErrorContext): ConnectError {
  const fields = errorFieldsFrom(event) ?? { type: "", message: "anthropic reported an error mid-stream" };
  const known = errorTypes.get(fields.type);
  const code = known?.code ?? Code.Unavailable;
  if (code === Code.Unauthenticated || code === Code.PermissionDenied) return upstreamAuthError(code === Code.Unauthenticated ? 401 : 403, context);
  return upstreamConnectError(code, { httpStatus: known?.status ?? codeToHttpStatus(code), message: redact(fields.message, context), type: fields.type, param: "", code: "", provider: context.provider });
}

/** Whether a parsed body or event is Anthropic's error object. */
export function isAnthropicError(value: unknown): boolean {
  return isRecord(value) && value.type === "error";
}

function errorFieldsFrom(body: unknown): AnthropicErrorFields | undefined {
  if (!isRecord(body)) return undefined;
  const error = body.error;
  if (isRecord(error)) return { type: typeof error.type === "string" ? error.type : "", message: typeof error.message === "string" && error.message !== "" ? error.message : "upstream error" };
  if (typeof error === "string" && error !== "") return { type: "", message: error };
  if (typeof body.message === "string" && body.message !== "") return { type: "", message: body.message };
  return undefined;
}

function plainTextFields(bodyText: string, status: number): AnthropicErrorFields {
  const text = bodyText.trim();
  return { type: "", message: text === "" ? `upstream answered HTTP ${status}` : text };
}

/** The message as clients may see it: bounded in length, without IIR's credentials. */
function redact(message: string, context: UpstreamErrorContext): string {
  const clean = redactSecrets(message, context.secrets);
  return clean.length > maximumMessageLength ? `${clean.slice(0, maximumMessageLength)}…` : clean;
}
