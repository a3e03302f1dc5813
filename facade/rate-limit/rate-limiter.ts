import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { RequestFacts } from "../app.js";
import { authenticatedKey } from "../auth/api-key-auth.js";
import type { ActiveApiKey } from "../auth/api-key-store.js";
import { OpenAIHttpError } from "../errors.js";
import { formatResetDuration, retryAfterSeconds, setRateLimitHeaders } from "./rate-limit-headers.js";
import type { RateLimitDecision, RateLimits, RateLimitStore } from "./rate-limit-store.js";

/** Options of {@link createRateLimiter}. */
export interface RateLimiterOptions {
  readonly store: RateLimitStore;
  /** Limits for keys without their own (RATE_LIMIT_REQUESTS, RATE_LIMIT_TOKENS). */
  readonly defaults: RateLimits;
}

/**
 * Middleware for /v1, after the auth middleware: per API key, requests per minute and tokens per
 * minute (the key's own limits, else the defaults). An admitted request carries OpenAI's
 * `x-ratelimit-*` headers and, when it finishes, adds its prompt + completion tokens to the key's
 * token window; once a budget is spent, requests get 429 with `Retry-After` until its window resets.
 * Requests on an open facade (no key) and keys without any limit are not counted.
 */
export function createRateLimiter(options: RateLimiterOptions): RequestHandler {
  return async (_request: Request, response: Response, next: NextFunction) => {
    const key = authenticatedKey(response);
    if (key === undefined) return next();
    const limits: RateLimits = { requests: key.rpm ?? options.defaults.requests, tokens: key.tpm ?? options.defaults.tokens };
    if (limits.requests === undefined && limits.tokens === undefined) return next();
    const decision = await options.store.admit(key.id, limits);
    // The store could not tell (Redis down): the request goes ahead rather than fail.
    if (decision === undefined) return next();
    setRateLimitHeaders(response, limits, decision);
    if (decision.refusedBy !== undefined) {
      const window = decision.refusedBy === "requests" ? decision.requests : decision.tokens;
      response.setHeader("retry-after", String(retryAfterSeconds(window.resetMs)));
      return next(new OpenAIHttpError(429, refusalMessage(key, limits, decision), decision.refusedBy, "rate_limit_exceeded"));
    }
    if (limits.tokens !== undefined) {
      response.once("close", () => {
        const facts = response.locals.facts as RequestFacts | undefined;
        const tokens = (facts?.promptTokens ?? 0) + (facts?.completionTokens ?? 0);
        // Nothing here may fail the finished request; the Redis store logs its own trouble.
        if (tokens > 0) options.store.addTokens(key.id, tokens).catch(() => undefined);
      });
    }
    next();
  };
}

/** OpenAI's wording, with the key's name where OpenAI names the organisation. */
function refusalMessage(key: ActiveApiKey, limits: RateLimits, decision: RateLimitDecision): string {
  const retry = (resetMs: number) => `Please try again in ${formatResetDuration(resetMs)}.`;
  if (decision.refusedBy === "requests") {
    const { used, resetMs } = decision.requests;
    return `Rate limit reached for requests per min (RPM) on API key "${key.name}": Limit ${limits.requests}, Used ${used}, Requested 1. ${retry(resetMs)}`;
  }
  const { used, resetMs } = decision.tokens;
  return `Rate limit reached for tokens per min (TPM) on API key "${key.name}": Limit ${limits.tokens}, Used ${used}. ${retry(resetMs)}`;
}
