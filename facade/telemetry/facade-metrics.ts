import type { Attributes } from "@opentelemetry/api";
import { chatOperation, genAi } from "../../services/common/telemetry/genai.js";
import type { BoundCounter, BoundHistogram, PreboundMeter } from "../../services/common/telemetry/bound-instruments.js";
import { otherModelLabel } from "../../services/common/telemetry/mesh-headers.js";
import type { RequestFacts } from "../app.js";
import type { RequestOutcome } from "../request-log.js";

/** Records one finished chat completion request into the facade's instruments. */
export interface FacadeMetrics {
  record(facts: RequestFacts, outcome: RequestOutcome): void;
}

// Bucket boundaries advised by the GenAI semantic conventions.
const durationBuckets = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
const firstTokenBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const perTokenBuckets = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5];
const tokenBuckets = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
// The gateway's own time is meant to be small: finer buckets below a millisecond.
const overheadBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** A request's metric attributes and the series bound to them, built once per combination. */
interface LabelSet {
  readonly requests: BoundCounter;
  readonly duration: BoundHistogram;
  readonly firstToken: BoundHistogram;
  readonly perToken: BoundHistogram;
  readonly inputTokens: BoundHistogram;
  readonly outputTokens: BoundHistogram;
  readonly overhead: BoundHistogram;
}

// Labels are bounded (see below), so every combination is built once and kept.
const maximumLabelSets = 10_000;

/**
 * The facade's instruments: the GenAI server metrics, token usage, and IIR's request, cache and
 * overhead counts. Every label is bounded: the model label is the router's (known names or
 * "other"), the backend a provider or agent id, the status an HTTP code. They are pre-bound
 * (services/common/telemetry/bound-instruments.ts): recording a request costs a few increments.
 */
export function createFacadeMetrics(meter: PreboundMeter): FacadeMetrics {
  const duration = meter.histogram("gen_ai.server.request.duration", {
    unit: "s",
    description: "Time from a chat completion request's arrival to its response's end",
    boundaries: durationBuckets,
  });
  const firstToken = meter.histogram("gen_ai.server.time_to_first_token", {
    unit: "s",
    description: "Time from a streamed request's arrival to its first delta",
    boundaries: firstTokenBuckets,
  });
  const perToken = meter.histogram("gen_ai.server.time_per_output_token", {
    unit: "s",
    description: "Time per output token after the first, of streamed requests",
    boundaries: perTokenBuckets,
  });
  const tokens = meter.histogram("gen_ai.client.token.usage", {
    unit: "{token}",
    description: "Tokens per request, by gen_ai.token.type (input, output)",
    boundaries: tokenBuckets,
  });
  const requests = meter.counter("iir_requests_total", { description: "Chat completion requests, by model, backend and HTTP status" });
  const cache = meter.counter("iir_cache_requests_total", { description: "What the response cache did for a request: hit, miss, bypass" });
  const overhead = meter.histogram("iir_gateway_overhead_seconds", {
    unit: "s",
    description: "A request's time minus the time the router spent waiting on backends",
    boundaries: overheadBuckets,
  });
  const cacheResults = new Map(["hit", "miss", "bypass"].map((result) => [result, cache.bind({ result })]));
  const otherCacheResult = cache.bind({ result: "other" });
  const sets = new Map<string, LabelSet>();
  const labels = (model: string, backend: string, status: number): LabelSet => {
    const key = `${model}\u0000${backend}\u0000${status}`;
    let set = sets.get(key);
    if (set === undefined) {
      const attributes: Attributes = { [genAi.operationName]: chatOperation, [genAi.requestModel]: model, backend, status: String(status) };
      set = {
        requests: requests.bind(attributes),
        duration: duration.bind(attributes),
        firstToken: firstToken.bind(attributes),
        perToken: perToken.bind(attributes),
        inputTokens: tokens.bind({ ...attributes, [genAi.tokenType]: "input" }),
        outputTokens: tokens.bind({ ...attributes, [genAi.tokenType]: "output" }),
        overhead: overhead.bind(attributes),
      };
      if (sets.size >= maximumLabelSets) sets.clear();
      sets.set(key, set);
    }
    return set;
  };
  return {
    record(facts, outcome) {
      const set = labels(facts.modelLabel ?? otherModelLabel, facts.backend || "none", outcome.status);
      set.requests.add(1);
      set.duration.record(outcome.durationMs / 1000);
      // Only a stream shows when its first token came; a whole answer's time is its duration.
      if (facts.stream === true && facts.firstTokenMs !== undefined) {
        set.firstToken.record(facts.firstTokenMs / 1000);
        const later = (facts.completionTokens ?? 0) - 1;
        if (later > 0) set.perToken.record((outcome.durationMs - facts.firstTokenMs) / 1000 / later);
      }
      if (facts.promptTokens !== undefined) set.inputTokens.record(facts.promptTokens);
      if (facts.completionTokens !== undefined) set.outputTokens.record(facts.completionTokens);
      if (facts.cache !== undefined) (cacheResults.get(facts.cache) ?? otherCacheResult).add(1);
      if (facts.backendMs !== undefined) set.overhead.record(Math.max(0, outcome.durationMs - facts.backendMs) / 1000);
    },
  };
}
