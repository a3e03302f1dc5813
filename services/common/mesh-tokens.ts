import { createHash, timingSafeEqual } from "node:crypto";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { peerKey } from "./peer.js";

/** Throws unless the call may go ahead. */
export type CallCheck = (context: Pick<HandlerContext, "requestHeader" | "values">) => void;

/**
 * The admin token's check, for registry changes and API keys over gRPC (and registry reads from
 * other machines): `authorization: Bearer <IIR_ADMIN_TOKEN>`. Without IIR_ADMIN_TOKEN set they are
 * refused outright: a registry entry names where prompts go and which secret goes with them.
 * `local` lets callers on this machine through without a token (registry reads).
 */
export function createAdminCheck(token: string | undefined, options: { local: boolean }): CallCheck {
  const matches = tokenMatcher(token);
  return (context) => {
    if (options.local && context.values.get(peerKey)?.local === true) return;
    if (matches === undefined) {
      throw new ConnectError("registry administration over gRPC is turned off: set IIR_ADMIN_TOKEN on the router and send it as authorization: Bearer <token>", Code.PermissionDenied);
    }
    const presented = bearerToken(context.requestHeader.get("authorization"));
    if (presented === undefined) throw new ConnectError("registry administration needs the admin token: send authorization: Bearer <IIR_ADMIN_TOKEN>", Code.Unauthenticated);
    if (!matches(presented)) throw new ConnectError("the admin token is not valid", Code.PermissionDenied);
  };
}

/**
 * The agent token's check, for agents joining the router and the router calling agents: with
 * IIR_AGENT_TOKEN set, `authorization: Bearer <token>` or a client certificate the mesh's CA signed;
 * without it, only callers on this machine (loopback) or with such a certificate.
 */
export function createAgentTokenCheck(token: string | undefined, what: string): CallCheck {
  const matches = tokenMatcher(token);
  return (context) => {
    const peer = context.values.get(peerKey);
    if (peer?.trustedCertificate === true) return;
    if (matches === undefined) {
      if (peer?.local === true) return;
      throw new ConnectError(`${what} from another machine needs the agent token: set IIR_AGENT_TOKEN on the router and its agents (or use mutual TLS)`, Code.PermissionDenied);
    }
    const presented = bearerToken(context.requestHeader.get("authorization"));
    if (presented === undefined) throw new ConnectError(`${what} needs the agent token: set IIR_AGENT_TOKEN on the router and its agents`, Code.Unauthenticated);
    if (!matches(presented)) throw new ConnectError("the agent token is not valid", Code.PermissionDenied);
  };
}

/** Compares in constant time over SHA-256 digests, so the secret's length does not leak either. */
function tokenMatcher(token: string | undefined): ((presented: string) => boolean) | undefined {
  if (token === undefined) return undefined;
  const expected = digest(token);
  return (presented) => timingSafeEqual(digest(presented), expected);
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/** The token of `Bearer <token>` (scheme case-insensitive, as RFC 7235 says); undefined when absent or empty. */
export function bearerToken(header: string | null): string | undefined {
  if (header === null) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  const token = match?.[1]?.trim();
  return token === undefined || token === "" ? undefined : token;
}
