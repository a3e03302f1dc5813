import { Code, type ConnectError } from "@connectrpc/connect";
import { codeFromHttpStatus, codeToHttpStatus, gatewayConnectError, upstreamConnectError } from "../../../common/errors.js";
import { isRecord, parseJsonOrUndefined, type JsonRecord } from "./json-guards.js";
import { redactSecrets, type UpstreamErrorContext } from "../upstream/upstream-secrets.js";

// Upstream error bodies are echoed to clients; an HTML error page or a stack trace stops here.
const maximumMessageLength = 2000;

/** What an upstream said about a failure, in OpenAI's terms. */
interface UpstreamErrorFields {
  message: string;
  type: string;
  param: string;
  code: string;
}

/**
 * The Connect error for a non-2xx answer of an OpenAI-compatible upstream. Reads OpenAI's
 * `{"error":{message,type,param,code}}` and the looser shapes other servers use (`{"error":"…"}`,
 * `{"message":…}`, a one-element array, plain text), maps the HTTP status to a Connect code, and
 * attaches an UpstreamError detail so the facade can answer what the provider said, its credentials
 * blanked out. A 401 or 403 is the provider refusing IIR's own credentials: see upstreamAuthError.
 */
export function connectErrorFromUpstreamResponse(status: number, bodyText: string, context: UpstreamErrorContext): ConnectError {
  if (status === 401 || status === 403) return upstreamAuthError(status, context);
  const first = bodyText.trimStart().charAt(0);
  const body = first === "{" || first === "[" ? parseJsonOrUndefined(bodyText) : undefined;
  const fields = errorFieldsFrom(Array.isArray(body) ? body[0] : body) ?? plainTextFields(bodyText, status);
  return upstreamConnectError(codeFromHttpStatus(status), {
    httpStatus: status,
    message: redact(fields.message, context),
    type: fields.type,
    param: fields.param,
    code: fields.code,
    provider: context.provider,
  });
}

/**
 * The Connect error for an error event inside an upstream stream (`data: {"error":{…}}`), which
 * arrives after a 200. The code comes from a numeric `code` (OpenRouter sends the HTTP status there)
 * or from OpenAI's error `type`; the detail's http_status is the status that code stands for. An
 * authentication or permission error is upstreamAuthError, as for a 401 or 403 answer.
 */
export function connectErrorFromUpstreamEvent(event: unknown, context: UpstreamErrorContext): ConnectError {
  const fields = errorFieldsFrom(event) ?? { message: "upstream reported an error mid-stream", type: "", param: "", code: "" };
  const numericStatus = Number(fields.code);
  const code = Number.isInteger(numericStatus) && numericStatus >= 400 ? codeFromHttpStatus(numericStatus) : codeFromErrorType(fields);
  if (code === Code.Unauthenticated || code === Code.PermissionDenied) return upstreamAuthError(code === Code.Unauthenticated ? 401 : 403, context);
  return upstreamConnectError(code, {
    httpStatus: Number.isInteger(numericStatus) && numericStatus >= 400 ? numericStatus : codeToHttpStatus(code),
    message: redact(fields.message, context),
    type: fields.type,
    param: fields.param,
    code: fields.code,
    provider: context.provider,
  });
}

/**
 * A provider refused IIR's credentials (its 401 or 403): the gateway's fault, not the client's. The
 * client gets a 502 `upstream_auth_error` naming the provider and where an operator fixes it, never
 * the client's own 401 (SDKs would tell the user their key is wrong) nor the provider's text (which
 * quotes IIR's key, masked or not). Unavailable, so the router falls back to the next candidate.
 */
export function upstreamAuthError(status: 401 | 403, context: UpstreamErrorContext): ConnectError {
  const refusal = status === 401 ? "refused IIR's credentials for it (HTTP 401)" : "refused IIR's credentials for this request (HTTP 403: the account may lack access to this model or region)";
  const check = context.credentialSource === undefined ? "" : ` An operator should check ${context.credentialSource}.`;
  return gatewayConnectError(Code.Unavailable, `The provider '${context.provider}' ${refusal}.${check}`, {
    httpStatus: 502,
    type: "upstream_error",
    code: "upstream_auth_error",
  });
}

/** Whether a parsed stream event is an error event rather than a chunk. */
export function isUpstreamErrorEvent(event: JsonRecord): boolean {
  return event.error !== undefined && event.error !== null;
}

function errorFieldsFrom(body: unknown): UpstreamErrorFields | undefined {
  if (!isRecord(body)) return undefined;
  const error = body.error;
  if (isRecord(error)) {
    return {
      message: textOf(error.message) || textOf(body.message) || "upstream error",
      type: textOf(error.type),
      param: textOf(error.param),
      code: textOf(error.code),
    };
  }
  if (typeof error === "string" && error !== "") {
    return { message: error, type: textOf(body.type), param: textOf(body.param), code: textOf(body.code) };
  }
  if (typeof body.message === "string" && body.message !== "") {
    return { message: body.message, type: textOf(body.type), param: textOf(body.param), code: textOf(body.code) };
  }
  return undefined;
}

function plainTextFields(bodyText: string, status: number): UpstreamErrorFields {
  const text = bodyText.trim();
  return { message: text === "" ? `upstream answered HTTP ${status}` : text, type: "", param: "", code: "" };
}

function codeFromErrorType(fields: UpstreamErrorFields): Code {
  const words = `${fields.type} ${fields.code}`;
  if (words.includes("rate_limit") || words.includes("insufficient_quota")) return Code.ResourceExhausted;
  // Before invalid_request: OpenAI sends a bad key as type invalid_request_error, code invalid_api_key.
  if (words.includes("authentication") || words.includes("invalid_api_key")) return Code.Unauthenticated;
  if (words.includes("permission")) return Code.PermissionDenied;
  if (words.includes("invalid_request") || words.includes("context_length")) return Code.InvalidArgument;
  return Code.Unavailable;
}

/** A field as text: strings as they are, numbers (some servers send numeric codes) as digits. */
function textOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return "";
}

/** The message as clients may see it: bounded in length, without IIR's credentials. */
function redact(message: string, context: UpstreamErrorContext): string {
  // Redact before cutting, so a cut can never leave half a key behind.
  const clean = redactSecrets(message, context.secrets);
  return clean.length > maximumMessageLength ? `${clean.slice(0, maximumMessageLength)}…` : clean;
}
