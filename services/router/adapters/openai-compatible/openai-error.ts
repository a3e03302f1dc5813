import { Code, type ConnectError } from "@connectrpc/connect";
import { codeFromHttpStatus, codeToHttpStatus, upstreamConnectError } from "../../../common/errors.js";
import { isRecord, parseJsonOrUndefined, type JsonRecord } from "./json-guards.js";

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
 * attaches an UpstreamError detail so the facade can answer what the provider said. `apiKey`, when
 * given, is blanked out of the message should the upstream echo it.
 */
export function connectErrorFromUpstreamResponse(status: number, bodyText: string, provider: string, apiKey?: string): ConnectError {
  const first = bodyText.trimStart().charAt(0);
  const body = first === "{" || first === "[" ? parseJsonOrUndefined(bodyText) : undefined;
  const fields = errorFieldsFrom(Array.isArray(body) ? body[0] : body) ?? plainTextFields(bodyText, status);
  return upstreamConnectError(codeFromHttpStatus(status), {
    httpStatus: status,
    message: redact(fields.message, apiKey),
    type: fields.type,
    param: fields.param,
    code: fields.code,
    provider,
  });
}

/**
 * The Connect error for an error event inside an upstream stream (`data: {"error":{…}}`), which
 * arrives after a 200. The code comes from a numeric `code` (OpenRouter sends the HTTP status there)
 * or from OpenAI's error `type`; the detail's http_status is the status that code stands for.
 */
export function connectErrorFromUpstreamEvent(event: unknown, provider: string, apiKey?: string): ConnectError {
  const fields = errorFieldsFrom(event) ?? { message: "upstream reported an error mid-stream", type: "", param: "", code: "" };
  const numericStatus = Number(fields.code);
  const code = Number.isInteger(numericStatus) && numericStatus >= 400 ? codeFromHttpStatus(numericStatus) : codeFromErrorType(fields);
  return upstreamConnectError(code, {
    httpStatus: Number.isInteger(numericStatus) && numericStatus >= 400 ? numericStatus : codeToHttpStatus(code),
    message: redact(fields.message, apiKey),
    type: fields.type,
    param: fields.param,
    code: fields.code,
    provider,
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
  if (words.includes("invalid_request") || words.includes("context_length")) return Code.InvalidArgument;
  if (words.includes("authentication") || words.includes("invalid_api_key")) return Code.Unauthenticated;
  return Code.Unavailable;
}

/** A field as text: strings as they are, numbers (some servers send numeric codes) as digits. */
function textOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return "";
}

/** The message as clients may see it: bounded in length, without the upstream's key. */
function redact(message: string, apiKey: string | undefined): string {
  // Redact before cutting, so a cut can never leave half a key behind.
  const clean = apiKey !== undefined && apiKey.length >= 8 && message.includes(apiKey) ? message.split(apiKey).join("[redacted]") : message;
  return clean.length > maximumMessageLength ? `${clean.slice(0, maximumMessageLength)}…` : clean;
}
