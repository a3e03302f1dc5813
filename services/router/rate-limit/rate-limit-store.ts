/** The limits that apply to one API key; an absent one is unlimited. */
export interface RateLimits {
  /** Requests per window. */
  readonly requests?: number | undefined;
  /** Tokens (prompt + completion) per window. */
  readonly tokens?: number | undefined;
}

/** How much of one window is used, and when it starts afresh. */
export interface WindowUsage {
  readonly used: number;
  /** Milliseconds until the window resets; 0 when no window is running. */
  readonly resetMs: number;
}

/** The answer to "may this request go ahead?". */
export interface RateLimitDecision {
  /** Which budget is exhausted; undefined: admitted, and counted. */
  readonly refusedBy?: "requests" | "tokens";
  /** Requests of the current window, this one included when admitted. */
  readonly requests: WindowUsage;
  /** Tokens of the current window, as recorded so far. */
  readonly tokens: WindowUsage;
}

/**
 * Fixed-window counters per subject (an API key's id). A window starts with the first request or
 * token after the previous one ended and lasts the store's window length.
 */
export interface RateLimitStore {
  /**
   * Admits one request unless a budget is already exhausted, counting it when admitted. Undefined
   * when the store cannot tell (Redis down): the caller lets the request through.
   */
  admit(subject: string, limits: RateLimits): Promise<RateLimitDecision | undefined>;
  /** Adds the tokens a finished request used to the subject's current token window. */
  addTokens(subject: string, tokens: number): Promise<void>;
  close(): Promise<void>;
}

/** The window of OpenAI's limits: one minute. */
export const rateLimitWindowMs = 60_000;
