import { createBearerTokenCheck } from "./bearer-token-check.js";

/**
 * Checks the Bearer token agents present on RegisterAgent, DeregisterAgent and Beat when the router
 * has IIR_AGENT_TOKEN set. Compared in constant time (over hashes, so lengths do not leak either).
 */
export function createAgentTokenCheck(token: string | undefined): (headers: Headers) => void {
  return createBearerTokenCheck(token, {
    missing: "this router requires an agent token: set IIR_AGENT_TOKEN on the agent",
    invalid: "the agent token is not valid",
  });
}
