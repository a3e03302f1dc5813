import { createHash, timingSafeEqual } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";

/** What the caller is told when its token is missing or wrong. */
export interface BearerTokenMessages {
  readonly missing: string;
  readonly invalid: string;
}

/**
 * A check of `authorization: Bearer <token>` against a shared secret: Unauthenticated when absent,
 * PermissionDenied when wrong. Compared in constant time over SHA-256 digests, so the secret's
 * length does not leak either. With no secret configured the check lets everything through.
 */
export function createBearerTokenCheck(token: string | undefined, messages: BearerTokenMessages): (headers: Headers) => void {
  if (token === undefined) return () => undefined;
  const expected = digest(token);
  return (headers) => {
    const value = headers.get("authorization") ?? "";
    const presented = value.startsWith("Bearer ") ? value.slice(7) : "";
    if (presented === "") throw new ConnectError(messages.missing, Code.Unauthenticated);
    if (!timingSafeEqual(digest(presented), expected)) throw new ConnectError(messages.invalid, Code.PermissionDenied);
  };
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}
