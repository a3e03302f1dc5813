import { createContextKey } from "@connectrpc/connect";

/** Who made a call, as the router's policy interceptor established it. */
export interface Caller {
  /** The API key's id (rate limits and cache scopes are kept under it); undefined on an open router. */
  readonly keyId: string | undefined;
  /** The API key's name, for logs; undefined on an open router. */
  readonly keyName: string | undefined;
}

/** The caller of the current call, in the handler context's values; undefined before the interceptor ran. */
export const callerKey = createContextKey<Caller | undefined>(undefined, { description: "iir caller" });
