import type { NextFunction, Request, RequestHandler, Response } from "express";
import { digestApiKey, redactPresentedKey } from "../../services/router/registry/api-key-secret.js";
import type { RequestFacts } from "../app.js";
import { OpenAIHttpError } from "../errors.js";
import type { ActiveApiKey, ApiKeyStore } from "./api-key-store.js";

/** Options of {@link createApiKeyAuth}. */
export interface ApiKeyAuthOptions {
  readonly keys: Pick<ApiKeyStore, "find" | "anyKeys">;
  /** Require a key even while none was ever created (IIR_REQUIRE_AUTH); otherwise an empty key table means an open facade. */
  readonly requireAuth: boolean;
}

// OpenAI's own wording, so clients and people recognise the situation; the "where to get a key" part is ours.
const missingKeyMessage =
  "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth " +
  "(i.e. Authorization: Bearer YOUR_KEY). An administrator can create one with `iir keys create --name NAME`.";

const authenticatedKeyLocal = "apiKey";

/** The key a request was authenticated with, once the auth middleware let it through; undefined on an open facade. */
export function authenticatedKey(response: Response): ActiveApiKey | undefined {
  return response.locals[authenticatedKeyLocal] as ActiveApiKey | undefined;
}

/**
 * Middleware for /v1: once a key was ever created (or with `requireAuth`), a request needs
 * `Authorization: Bearer <key>` naming a non-revoked key, else 401 `invalid_api_key`. The key is
 * looked up by its SHA-256 digest; a wrong one is echoed only as `iir-...abcd`. Revoking every key
 * leaves the facade closed, not open.
 */
export function createApiKeyAuth(options: ApiKeyAuthOptions): RequestHandler {
  return (request: Request, response: Response, next: NextFunction) => {
    if (!options.requireAuth && !options.keys.anyKeys()) {
      next();
      return;
    }
    const presented = bearerToken(request.headers.authorization);
    if (presented === undefined) {
      next(new OpenAIHttpError(401, missingKeyMessage, "invalid_request_error", "invalid_api_key"));
      return;
    }
    const key = options.keys.find(digestApiKey(presented));
    if (key === undefined) {
      const message = `Incorrect API key provided: ${redactPresentedKey(presented)}. You can list your API keys with \`iir keys list\`.`;
      next(new OpenAIHttpError(401, message, "invalid_request_error", "invalid_api_key"));
      return;
    }
    response.locals[authenticatedKeyLocal] = key;
    const facts = response.locals.facts as RequestFacts | undefined;
    if (facts !== undefined) facts.keyName = key.name;
    next();
  };
}

/** The token of `Bearer <token>` (scheme case-insensitive, as RFC 7235 says); undefined when absent or empty. */
function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  const token = match?.[1]?.trim();
  return token === undefined || token === "" ? undefined : token;
}
