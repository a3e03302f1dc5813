import { Code, ConnectError } from "@connectrpc/connect";
import { GatewayErrorSchema, UpstreamErrorSchema, type GatewayError, type UpstreamError } from "../../gen/iir/inference/v1/inference_pb.js";

/** HTTP status the facade answers for a Connect code (the error table of the architecture). */
export function codeToHttpStatus(code: Code): number {
  switch (code) {
    case Code.InvalidArgument:
    case Code.OutOfRange:
      return 400;
    case Code.Unauthenticated:
      return 401;
    case Code.PermissionDenied:
      return 403;
    case Code.NotFound:
      return 404;
    case Code.AlreadyExists:
    case Code.Aborted:
      return 409;
    case Code.ResourceExhausted:
      return 429;
    case Code.Canceled:
      return 499;
    case Code.Unimplemented:
      return 501;
    case Code.Unavailable:
    case Code.FailedPrecondition:
      return 503;
    case Code.DeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

/** Connect code for an upstream's HTTP status. */
export function codeFromHttpStatus(status: number): Code {
  if (status === 400 || status === 413 || status === 422) return Code.InvalidArgument;
  if (status === 401) return Code.Unauthenticated;
  if (status === 403) return Code.PermissionDenied;
  if (status === 404) return Code.NotFound;
  if (status === 408 || status === 504) return Code.DeadlineExceeded;
  if (status === 409) return Code.Aborted;
  if (status === 429) return Code.ResourceExhausted;
  if (status === 501) return Code.Unimplemented;
  if (status === 502 || status === 503) return Code.Unavailable;
  if (status >= 500) return Code.Unavailable;
  return Code.Unknown;
}

/** OpenAI's error `type` for a Connect code, as the official SDKs expect it. */
export function codeToOpenAIErrorType(code: Code): string {
  switch (code) {
    case Code.InvalidArgument:
    case Code.OutOfRange:
    case Code.NotFound:
    case Code.Unauthenticated:
    case Code.PermissionDenied:
      return "invalid_request_error";
    case Code.ResourceExhausted:
      return "rate_limit_error";
    default:
      return "server_error";
  }
}

/**
 * Whether a failed attempt may be tried again on another backend. Mirrors the OpenAI SDK's retry rule
 * (408, 409, 429, ≥500): errors the client caused are final.
 */
export function isRetryableCode(code: Code): boolean {
  switch (code) {
    case Code.Unavailable:
    case Code.ResourceExhausted:
    case Code.DeadlineExceeded:
    case Code.Aborted:
    case Code.Internal:
    case Code.Unknown:
    case Code.FailedPrecondition:
    case Code.Unimplemented:
      return true;
    default:
      return false;
  }
}

/** A Connect error that carries what an upstream said about the failure. */
export function upstreamConnectError(code: Code, upstream: Omit<UpstreamError, "$typeName" | "$unknown">): ConnectError {
  return new ConnectError(upstream.message, code, undefined, [{ desc: UpstreamErrorSchema, value: upstream }]);
}

/** The upstream's own error, when the Connect error carries one. */
export function findUpstreamError(error: ConnectError): UpstreamError | undefined {
  return error.findDetails(UpstreamErrorSchema)[0];
}

/**
 * A Connect error IIR raises itself (a rate limit, a provider that refused IIR's own credentials)
 * with the HTTP status and OpenAI error fields the facade answers with; `metadata` travels too
 * (retry-after, x-ratelimit-*).
 */
export function gatewayConnectError(
  code: Code,
  message: string,
  fields: Omit<GatewayError, "$typeName" | "$unknown" | "param"> & { param?: string },
  metadata?: ConstructorParameters<typeof Headers>[0],
): ConnectError {
  return new ConnectError(message, code, metadata, [{ desc: GatewayErrorSchema, value: { param: "", ...fields } }]);
}

/** What IIR said about its own refusal, when the Connect error carries it. */
export function findGatewayError(error: ConnectError): GatewayError | undefined {
  return error.findDetails(GatewayErrorSchema)[0];
}

/**
 * Node network errors become Connect codes at the edge where they happen. The message is `what`
 * (which names the backend, never its address) and the failure in words from its Node code alone:
 * Node's own message names the address it tried (`connect ECONNREFUSED 10.0.0.5:443`), and clients
 * and logs must not learn internal addresses.
 */
export function connectErrorFromNodeError(error: unknown, what: string): ConnectError {
  if (error instanceof ConnectError) return error;
  if ((error as { name?: unknown } | undefined)?.name === "AbortError") return new ConnectError(`${what}: canceled`, Code.Canceled);
  const nodeCode = nodeErrorCode(error);
  const code = nodeCode === "ETIMEDOUT" || nodeCode === "UND_ERR_CONNECT_TIMEOUT" ? Code.DeadlineExceeded : Code.Unavailable;
  return new ConnectError(`${what}: ${describeNodeError(error) ?? "network error"}`, code);
}

// Node's codes for network failures, in words a client may read.
const nodeFailures: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection closed while sending",
  UND_ERR_SOCKET: "connection closed",
  ENOTFOUND: "host name not found",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  ERR_TLS_CERT_ALTNAME_INVALID: "TLS certificate does not match the host",
  CERT_HAS_EXPIRED: "TLS certificate has expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "TLS certificate is self-signed",
  SELF_SIGNED_CERT_IN_CHAIN: "TLS certificate chain is self-signed",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "TLS certificate could not be verified",
  ERR_INVALID_URL: "the configured URL is not valid",
};

/**
 * A Node failure in words, `connection refused (ECONNREFUSED)`, from the first code along its
 * `cause` chain; undefined when none has one (an error of our own making).
 */
export function describeNodeError(error: unknown): string | undefined {
  const code = nodeErrorCode(error);
  if (code === undefined) return undefined;
  if (Object.hasOwn(nodeFailures, code)) return `${nodeFailures[code]} (${code})`;
  if (code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS")) return `TLS handshake failed (${code})`;
  return `network error (${code})`;
}

/**
 * A Node failure to reach a peer (refused, reset, unresolvable, TLS, HTTP/2 session) in words, from
 * the first code along its `cause` chain; undefined for anything else (a database's code, none).
 */
export function describeNetworkError(error: unknown): string | undefined {
  const code = nodeErrorCode(error);
  if (code === undefined) return undefined;
  const network = Object.hasOwn(nodeFailures, code) || networkCodePrefixes.some((prefix) => code.startsWith(prefix));
  return network ? describeNodeError(error) : undefined;
}

const networkCodePrefixes = ["ECONN", "EHOST", "ENET", "EAI_", "ERR_HTTP2_", "ERR_TLS", "ERR_SSL", "UND_ERR_"];

/** The first Node error code (`ECONNREFUSED`…) along an error's `cause` chain. */
export function nodeErrorCode(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  for (let current = error; typeof current === "object" && current !== null && !seen.has(current); current = (current as { cause?: unknown }).cause) {
    seen.add(current);
    const code = (current as { code?: unknown }).code;
    // Only constant identifiers: a code is quoted to clients, and some libraries put numbers or text there.
    if (typeof code === "string" && /^[A-Z][A-Z0-9_]{1,63}$/.test(code)) return code;
  }
  return undefined;
}
