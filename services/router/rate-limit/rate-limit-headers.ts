import type { RateLimitDecision, RateLimits } from "./rate-limit-store.js";

/**
 * A duration as OpenAI writes it in `x-ratelimit-reset-*` (Go's time.Duration format): `250ms`,
 * `1s`, `8.64s`, `6m0s`, `1h2m3s`; `0s` for none.
 */
export function formatResetDuration(milliseconds: number): string {
  const total = Math.max(0, Math.round(milliseconds));
  if (total === 0) return "0s";
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const seconds = `${(total % 60_000) / 1000}s`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${minutes}m${seconds}`;
  return seconds;
}

/** Whole seconds for `Retry-After`: rounded up, at least 1. */
export function retryAfterSeconds(milliseconds: number): number {
  return Math.max(1, Math.ceil(milliseconds / 1000));
}

/**
 * OpenAI's rate-limit headers: `x-ratelimit-{limit,remaining,reset}-requests` when a request limit
 * applies, and the `-tokens` trio when a token limit does.
 */
export function setRateLimitHeaders(headers: Headers, limits: RateLimits, decision: RateLimitDecision): void {
  if (limits.requests !== undefined) {
    headers.set("x-ratelimit-limit-requests", String(limits.requests));
    headers.set("x-ratelimit-remaining-requests", String(Math.max(0, limits.requests - decision.requests.used)));
    headers.set("x-ratelimit-reset-requests", formatResetDuration(decision.requests.resetMs));
  }
  if (limits.tokens !== undefined) {
    headers.set("x-ratelimit-limit-tokens", String(limits.tokens));
    headers.set("x-ratelimit-remaining-tokens", String(Math.max(0, limits.tokens - decision.tokens.used)));
    headers.set("x-ratelimit-reset-tokens", formatResetDuration(decision.tokens.resetMs));
  }
}
