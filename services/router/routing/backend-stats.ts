import type { ChatResponse, ChatStreamResponse } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatAdapter } from "../adapters/adapter.js";
import { breakerKey } from "./circuit-breaker.js";
import type { RouteCandidate } from "./resolve-route.js";

/** Moving averages of one backend's answers. */
export interface BackendLatency {
  /** Time from the call to the first part (streams) or to the whole answer (non-streaming calls), ms. */
  readonly ttftMs: number;
  /** Completion tokens per second after the first part; 0 until an answer reported its usage. */
  readonly tokensPerSecond: number;
  /** Answers averaged so far (capped at 1,000). */
  readonly samples: number;
  /**
   * No answer for longer than `staleAfterMs`: the averages describe the past. A strategy that only
   * sends to the fastest would otherwise never measure a backend again after one slow spell.
   */
  readonly stale?: boolean;
}

/**
 * What the router observes of each backend, keyed as the circuit breakers key it
 * ({@link breakerKey} of the target): for the least-busy and lowest-latency strategies and `auto`.
 */
export interface BackendStats {
  /** Wraps candidates so each attempt's time to first part, tokens per second and in-flight count are recorded. */
  observe(candidates: RouteCandidate[]): RouteCandidate[];
  /** Moving averages of a backend; undefined before its first answer. */
  latency(backend: string): BackendLatency | undefined;
  /** Attempts to the backend that have not ended yet, from this router. */
  inFlight(backend: string): number;
}

interface Entry {
  ttftMs: number;
  tokensPerSecond: number;
  samples: number;
  inFlight: number;
  sampledAt: number;
}

/** Options of {@link createBackendStats}. */
export interface BackendStatsOptions {
  /** Weight of the newest sample in the moving average (0–1]; default 0.2. */
  readonly alpha?: number;
  /** After how long without an answer a backend's averages are {@link BackendLatency.stale}; default 60 s. */
  readonly staleAfterMs?: number;
  readonly now?: () => number;
}

// Backends come and go (agents, registry edits): the map is capped; the idle oldest entries go first.
const maximumTracked = 1000;

/** Exponentially weighted moving averages per backend, in this router's memory. */
export function createBackendStats(options: BackendStatsOptions = {}): BackendStats {
  const alpha = options.alpha ?? 0.2;
  const staleAfterMs = options.staleAfterMs ?? 60_000;
  const now = options.now ?? (() => performance.now());
  const entries = new Map<string, Entry>();

  const entry = (backend: string): Entry => {
    let found = entries.get(backend);
    if (found !== undefined) {
      // Most recently used last, so eviction takes the least recently used idle entry.
      entries.delete(backend);
      entries.set(backend, found);
      return found;
    }
    if (entries.size >= maximumTracked) {
      for (const [key, candidate] of entries) {
        if (candidate.inFlight === 0) {
          entries.delete(key);
          break;
        }
      }
    }
    found = { ttftMs: 0, tokensPerSecond: 0, samples: 0, inFlight: 0, sampledAt: 0 };
    entries.set(backend, found);
    return found;
  };

  const average = (previous: number, sample: number, samples: number) => (samples === 0 ? sample : previous + alpha * (sample - previous));

  const record = (backend: string, ttftMs: number, tokens: number, generationMs: number) => {
    const stats = entry(backend);
    stats.ttftMs = average(stats.ttftMs, ttftMs, stats.samples);
    if (tokens > 0 && generationMs > 0) {
      const rate = (tokens * 1000) / generationMs;
      stats.tokensPerSecond = stats.tokensPerSecond === 0 ? rate : stats.tokensPerSecond + alpha * (rate - stats.tokensPerSecond);
    }
    stats.samples = Math.min(stats.samples + 1, 1000);
    stats.sampledAt = now();
  };

  const begin = (backend: string) => {
    const stats = entry(backend);
    stats.inFlight += 1;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      stats.inFlight -= 1;
    };
  };

  const observeAdapter = (adapter: ChatAdapter, backend: string): ChatAdapter => {
    const observed: ChatAdapter = {
      async chat(params, target, signal) {
        const end = begin(backend);
        const started = now();
        try {
          const response: ChatResponse = await adapter.chat(params, target, signal);
          record(backend, now() - started, 0, 0);
          return response;
        } finally {
          end();
        }
      },
      async *chatStream(params, target, signal) {
        const end = begin(backend);
        const started = now();
        let first: number | undefined;
        let tokens = 0;
        try {
          for await (const part of adapter.chatStream(params, target, signal) as AsyncIterable<ChatStreamResponse>) {
            first ??= now();
            if (part.event.case === "usage") tokens = part.event.value.completionTokens;
            yield part;
          }
          if (first !== undefined) record(backend, first - started, tokens, now() - first);
        } finally {
          end();
        }
      },
    };
    // Not answers: they pass as they are.
    if (adapter.embed !== undefined) observed.embed = adapter.embed.bind(adapter);
    if (adapter.countTokens !== undefined) observed.countTokens = adapter.countTokens.bind(adapter);
    if (adapter.listModels !== undefined) observed.listModels = adapter.listModels.bind(adapter);
    return observed;
  };

  return {
    observe(candidates) {
      return candidates.map((candidate) => ({ ...candidate, adapter: observeAdapter(candidate.adapter, breakerKey(candidate.target)) }));
    },
    latency(backend) {
      const stats = entries.get(backend);
      return stats === undefined || stats.samples === 0 ? undefined : { ttftMs: stats.ttftMs, tokensPerSecond: stats.tokensPerSecond, samples: stats.samples, stale: now() - stats.sampledAt > staleAfterMs };
    },
    inFlight(backend) {
      return entries.get(backend)?.inFlight ?? 0;
    },
  };
}
