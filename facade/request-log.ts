import type { RequestFacts } from "./app.js";

/** How a request ended, as the facade saw it when the response closed. */
export interface RequestOutcome {
  readonly method: string;
  readonly path: string;
  /** The HTTP status sent, or 499 when the client went away first. */
  readonly status: number;
  /** From arrival to the response closing. */
  readonly durationMs: number;
}

/**
 * One line about one finished request. Only names and numbers: never the API key, and the
 * messages only when LOG_PROMPTS asked for them (the chat route keeps them in facts only then).
 */
export interface RequestLogEntry {
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly latencyMs: number;
  /** Time to the first streamed delta, or to the whole answer when not streaming. */
  readonly ttftMs?: number;
  readonly model?: string;
  readonly backend?: string;
  readonly stream?: boolean;
  readonly promptTokens?: number;
  readonly completionTokens?: number;
  /** hit, miss or bypass. */
  readonly cache?: string;
  /** The API key's name. */
  readonly keyName?: string;
  readonly errorType?: string;
  /** The request's trace, when tracing is on. */
  readonly traceId?: string;
  readonly messages?: unknown;
}

/** The request log's line for a request; absent facts leave their fields out. */
export function requestLogEntry(facts: RequestFacts, outcome: RequestOutcome): RequestLogEntry {
  return {
    requestId: facts.requestId,
    method: outcome.method,
    path: outcome.path,
    status: outcome.status,
    latencyMs: roundMs(outcome.durationMs),
    ttftMs: facts.firstTokenMs === undefined ? undefined : roundMs(facts.firstTokenMs),
    model: facts.model,
    backend: facts.backend,
    stream: facts.stream,
    promptTokens: facts.promptTokens,
    completionTokens: facts.completionTokens,
    cache: facts.cache,
    keyName: facts.keyName,
    errorType: facts.errorType,
    traceId: facts.traceId,
    messages: facts.messages,
  };
}

function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
