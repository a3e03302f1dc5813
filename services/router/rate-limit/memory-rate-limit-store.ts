import { rateLimitWindowMs, type RateLimitStore, type WindowUsage } from "./rate-limit-store.js";

interface Window {
  count: number;
  readonly endsAt: number;
}

/**
 * Rate-limit counters in this process's memory: right for one router; several replicas need the
 * Redis store to share one budget. Ended windows are swept once per window length.
 */
export function createMemoryRateLimitStore(options: { windowMs?: number; now?: () => number } = {}): RateLimitStore {
  const windowMs = options.windowMs ?? rateLimitWindowMs;
  const now = options.now ?? Date.now;
  const windows = new Map<string, Window>();
  const current = (key: string, at: number): Window | undefined => {
    const window = windows.get(key);
    return window !== undefined && window.endsAt > at ? window : undefined;
  };
  const usage = (window: Window | undefined, at: number): WindowUsage => ({ used: window?.count ?? 0, resetMs: window === undefined ? 0 : window.endsAt - at });
  const start = (key: string, at: number): Window => {
    const window = { count: 0, endsAt: at + windowMs };
    windows.set(key, window);
    return window;
  };
  const sweep = setInterval(() => {
    const at = now();
    for (const [key, window] of windows) if (window.endsAt <= at) windows.delete(key);
  }, windowMs);
  sweep.unref();

  return {
    async admit(subject, limits) {
      const at = now();
      let requests = current(`${subject}:requests`, at);
      const tokens = current(`${subject}:tokens`, at);
      const refusedBy =
        limits.requests !== undefined && (requests?.count ?? 0) >= limits.requests
          ? "requests"
          : limits.tokens !== undefined && (tokens?.count ?? 0) >= limits.tokens
            ? "tokens"
            : undefined;
      if (refusedBy === undefined) {
        requests ??= start(`${subject}:requests`, at);
        requests.count += 1;
      }
      return { refusedBy, requests: usage(requests, at), tokens: usage(tokens, at) };
    },
    async addTokens(subject, count) {
      const at = now();
      const window = current(`${subject}:tokens`, at) ?? start(`${subject}:tokens`, at);
      window.count += count;
    },
    async close() {
      clearInterval(sweep);
      windows.clear();
    },
  };
}
