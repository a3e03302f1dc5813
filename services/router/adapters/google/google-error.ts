import { Code, type ConnectError } from "@connectrpc/connect";
import { codeFromHttpStatus, codeToHttpStatus, upstreamConnectError } from "../../../common/errors.js";
import { isRecord, parseJsonOrUndefined, type JsonRecord } from "../openai-compatible/json-guards.js";
import { upstreamAuthError } from "../openai-compatible/openai-error.js";
import { redactSecrets, type UpstreamErrorContext } from "../upstream/upstream-secrets.js";

// Upstream error bodies are echoed to clients; a stack trace or an HTML page stops here.
const maximumMessageLength = 2000;

// Google's canonical error statuses (google.rpc.Code names) as Connect codes.
const codesByStatus: ReadonlyMap<string, Code> = new Map([
  ["INVALID_ARGUMENT", Code.InvalidArgument],
  ["FAILED_PRECONDITION", Code.FailedPrecondition],
  ["OUT_OF_RANGE", Code.InvalidArgument],
  ["NOT_FOUND", Code.NotFound],
  ["RESOURCE_EXHAUSTED", Code.ResourceExhausted],
  ["INTERNAL", Code.Unavailable],
  ["UNAVAILABLE", Code.Unavailable],
  ["UNKNOWN", Code.Unavailable],
  ["DEADLINE_EXCEEDED", Code.DeadlineExceeded],
  ["CANCELLED", Code.Unavailable],
  ["ABORTED", Code.Aborted],
  ["UNIMPLEMENTED", Code.Unimplemented],
]);

/** What Google's `{"error":{code,message,status,details}}` says. */
interface GoogleErrorFields {
  readonly httpStatus: number;
  readonly message: string;
  readonly status: string;
  /** The ErrorInfo detail's reason (API_KEY_INVALID…), when given. */
  readonly reason: string;
  /** The RetryInfo detail's delay in whole seconds, when given. */
  readonly retryAfterSeconds: number | undefined;
}

/**
 * The Connect error for a non-2xx Gemini answer. The code comes from Google's `status` (else the HTTP
 * status); the UpstreamError detail carries Google's message (IIR's key blanked out), its status as
 * `type` and the ErrorInfo reason as `code`. Google refusing IIR's key is the gateway's fault, as for
 * the OpenAI adapter (upstreamAuthError): UNAUTHENTICATED, PERMISSION_DENIED, and the 400
 * INVALID_ARGUMENT with reason API_KEY_INVALID that Gemini answers for a bad key. A RetryInfo delay
 * becomes the error's retry-after (a Retry-After header, when Google sends one, wins).
 */
export function connectErrorFromGoogleResponse(status: number, bodyText: string, context: UpstreamErrorContext): ConnectError {
  const body = parseJsonOrUndefined(bodyText);
  const fields = errorFieldsFrom(Array.isArray(body) ? body[0] : body, status) ?? plainFields(bodyText, status);
  return connectErrorFromFields(fields, context);
}

/** The Connect error for `{"error":…}` sent inside a stream after a 200. */
export function connectErrorFromGoogleEvent(event: JsonRecord, context: UpstreamErrorContext): ConnectError {
  const fields = errorFieldsFrom(event, 0) ?? { httpStatus: 0, message: "Gemini reported an error mid-stream", status: "", reason: "", retryAfterSeconds: undefined };
  return connectErrorFromFields(fields, context);
}

function connectErrorFromFields(fields: GoogleErrorFields, context: UpstreamErrorContext): ConnectError {
  if (fields.reason === "API_KEY_INVALID" || fields.status === "UNAUTHENTICATED" || fields.httpStatus === 401) return upstreamAuthError(401, context);
  if (fields.status === "PERMISSION_DENIED" || fields.httpStatus === 403) return upstreamAuthError(403, context);
  const code = codesByStatus.get(fields.status) ?? (fields.httpStatus >= 400 ? codeFromHttpStatus(fields.httpStatus) : Code.Unavailable);
  const error = upstreamConnectError(code, {
    httpStatus: fields.httpStatus >= 400 ? fields.httpStatus : codeToHttpStatus(code),
    message: redact(fields.message, context),
    type: fields.status,
    param: "",
    code: fields.reason,
    provider: context.provider,
  });
  if (fields.retryAfterSeconds !== undefined) error.metadata.set("retry-after", String(fields.retryAfterSeconds));
  return error;
}

function errorFieldsFrom(body: unknown, httpStatus: number): GoogleErrorFields | undefined {
  if (!isRecord(body) || !isRecord(body.error)) return undefined;
  const error = body.error;
  let reason = "";
  let retryAfterSeconds: number | undefined;
  for (const detail of Array.isArray(error.details) ? error.details : []) {
    if (!isRecord(detail)) continue;
    if (typeof detail.reason === "string" && reason === "") reason = detail.reason;
    // "34.4s": a google.protobuf.Duration in JSON.
    const delay = typeof detail.retryDelay === "string" ? /^(\d+(?:\.\d+)?)s$/.exec(detail.retryDelay) : null;
    if (delay !== null) retryAfterSeconds = Math.ceil(Number(delay[1]));
  }
  const code = typeof error.code === "number" && Number.isInteger(error.code) ? error.code : 0;
  return {
    httpStatus: httpStatus >= 400 ? httpStatus : code,
    message: typeof error.message === "string" && error.message !== "" ? error.message : "Gemini reported an error",
    status: typeof error.status === "string" ? error.status : "",
    reason,
    retryAfterSeconds,
  };
}

function plainFields(bodyText: string, status: number): GoogleErrorFields {
  const text = bodyText.trim();
  return { httpStatus: status, message: text === "" ? `Gemini answered HTTP ${status}` : text, status: "", reason: "", retryAfterSeconds: undefined };
}

/** The message as clients may see it: bounded, without IIR's credentials. */
function redact(message: string, context: UpstreamErrorContext): string {
  const clean = redactSecrets(message, context.secrets);
  return clean.length > maximumMessageLength ? `${clean.slice(0, maximumMessageLength)}…` : clean;
}
