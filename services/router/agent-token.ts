import { createHash, timingSafeEqual } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Checks the Bearer token agents present on RegisterAgent, DeregisterAgent and Beat when the router
 * has IIR_AGENT_TOKEN set. Compared in constant time (over hashes, so lengths do not leak either).
 */
export function createAgentTokenCheck(token: string | undefined): (headers: Headers) => void {
  if (token === undefined) return () => undefined;
  const expected = digest(token);
  return (headers) => {
    const value = headers.get("authorization") ?? "";
    const presented = value.startsWith("Bearer ") ? value.slice(7) : "";
    if (presented === "") throw new ConnectError("this router requires an agent token: set IIR_AGENT_TOKEN on the agent", Code.Unauthenticated);
    if (!timingSafeEqual(digest(presented), expected)) throw new ConnectError("the agent token is not valid", Code.PermissionDenied);
  };
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}
