/**
 * The request headers llm-d's scheduler (its endpoint picker) reads, passed on from the client's
 * request to llm-d targets only: the InferenceObjective that sets the request's priority class, and
 * the session token its session-affinity scorer uses to keep a conversation on one model server.
 * No other client header ever reaches an upstream.
 */
export const llmdSchedulingHeaderNames = ["x-llm-d-inference-objective", "x-session-token"] as const;

/** Longest value passed on; an objective is a Kubernetes name (≤ 253), a session token a short encoded pod name. */
export const llmdSchedulingHeaderMaxLength = 512;

// Visible ASCII with inner spaces: nothing that could split a header (CR, LF), no control characters,
// no obs-text whose meaning differs between HTTP/1.1 and HTTP/2 peers.
const headerSafe = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/**
 * The llm-d scheduling headers among a call's request headers, each only when its value is
 * header-safe and at most {@link llmdSchedulingHeaderMaxLength} characters (an unsafe one is left
 * out: it is a scheduling hint, never a reason to fail the request); undefined when there are none.
 */
export function llmdSchedulingHeaders(requestHeaders: Headers): Record<string, string> | undefined {
  let passed: Record<string, string> | undefined;
  for (const name of llmdSchedulingHeaderNames) {
    const value = requestHeaders.get(name)?.trim();
    if (value === undefined || value.length > llmdSchedulingHeaderMaxLength || !headerSafe.test(value)) continue;
    (passed ??= {})[name] = value;
  }
  return passed;
}
