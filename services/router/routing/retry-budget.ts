import type { Meter } from "@opentelemetry/api";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "../../common/logger.js";
import { createSlidingWindow } from "./sliding-window.js";

/** Settings of the retry budget (IIR_RETRY_BUDGET_*). */
export interface RetryBudgetSettings {
  /** Retries allowed as a percentage of requests over the window. */
  readonly percent: number;
  readonly windowMs: number;
  /** Retries always allowed per window, so a quiet router can still fail over. */
  readonly minimum: number;
}

/**
 * How many upstream calls beyond each request's first the router may make: during an outage every
 * request would otherwise call the failing backend and then its fallbacks, multiplying the load the
 * outage already causes. Kept in this router's memory: each replica spends its own budget.
 */
export interface RetryBudget {
  /** Counts a request (its first upstream call is never limited). */
  request(now?: number): void;
  /** Takes one retry; false when the budget is spent (nothing is taken then). */
  tryRetry(now?: number): boolean;
}

/** Creates a budget; see {@link RetryBudget}. */
export function createRetryBudget(settings: RetryBudgetSettings, clock: () => number = Date.now): RetryBudget {
  const window = createSlidingWindow(["requests", "retries"] as const, Math.max(1, settings.windowMs));
  return {
    request(now = clock()) {
      window.add("requests", now);
    },
    tryRetry(now = clock()) {
      const allowed = Math.max(settings.minimum, Math.floor((window.count("requests", now) * settings.percent) / 100));
      if (window.count("retries", now) >= allowed) return false;
      window.add("retries", now);
      return true;
    },
  };
}

/**
 * Thrown instead of an attempt the budget refused. It is no call to the backend, so breakers count
 * it as nothing; the attempt loop turns it into the request's last real error.
 */
export class RetryBudgetExhausted extends ConnectError {
  /** The brand {@link isRetryBudgetExhausted} reads: ConnectError's own `instanceof` matches any ConnectError. */
  readonly retryBudgetExhausted = true;
  constructor(readonly backend: string) {
    super(`not retried on ${backend}: the router's retry budget is spent`, Code.Unavailable);
  }
}

/** Whether an attempt was refused by the retry budget (no call was made). */
export function isRetryBudgetExhausted(error: unknown): error is RetryBudgetExhausted {
  return typeof error === "object" && error !== null && (error as { retryBudgetExhausted?: unknown }).retryBudgetExhausted === true;
}

/**
 * Reports refused retries: each counts in `iir_retry_budget_exhausted_total{backend}`, and one warning
 * per window is logged (an outage would otherwise write one line per request).
 */
export function createRetryBudgetReport(options: { readonly logger?: Logger; readonly meter?: Meter; readonly windowMs: number }): (backend: string) => void {
  const counter = options.meter?.createCounter("iir_retry_budget_exhausted_total", {
    description: "Fallback attempts not made because the router's retry budget was spent (the request ended with its last error)",
  });
  let loggedAt = Number.NEGATIVE_INFINITY;
  return (backend) => {
    counter?.add(1, { backend });
    const now = Date.now();
    if (now - loggedAt < options.windowMs) return;
    loggedAt = now;
    options.logger?.warn("retry budget exhausted: failed requests end with their error instead of trying more backends", { backend });
  };
}
