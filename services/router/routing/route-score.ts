import type { Model } from "../../../gen/iir/registry/v1/registry_pb.js";
import type { BackendLatency } from "./backend-stats.js";
import type { RequestNeeds } from "./request-needs.js";

/** Weights of `auto` routing (ROUTER_COST_WEIGHT, ROUTER_LATENCY_WEIGHT, ROUTER_COST_THRESHOLD, or a router entry's own). */
export interface RouteWeights {
  readonly costWeight: number;
  readonly latencyWeight: number;
  /** Estimated USD per request above which a local model is preferred; 0: no threshold. */
  readonly costThreshold: number;
}

/** One model `auto` may pick, with what the router observed of its backend. */
export interface ScoringCandidate {
  readonly model: Model;
  /** Moving averages of the model's first backend; undefined: not observed yet (a neutral prior). */
  readonly latency: BackendLatency | undefined;
}

/** A candidate that passed the hard filters, with its score and the parts of it. */
export interface ScoredCandidate {
  readonly name: string;
  readonly score: number;
  /** Estimated USD of this request on the model. */
  readonly costUsd: number;
  /** Cost on a log scale among the candidates, [0, 1]. */
  readonly cost: number;
  /** Expected seconds to the whole answer mapped to [0, 1] (t / (t + 5 s)); unobserved: the observed candidates' mean, else 0.5. */
  readonly latency: number;
  /** The model's strength from its price (and reasoning capability), [0, 1]. */
  readonly strength: number;
  /** Served by IIR agents (provider "local"). */
  readonly local: boolean;
}

/** A candidate a hard filter removed, and which. */
export interface ExcludedCandidate {
  readonly name: string;
  readonly reason: string;
}

/** The scorer's result: best first. */
export interface RouteRanking {
  readonly ranked: readonly ScoredCandidate[];
  readonly excluded: readonly ExcludedCandidate[];
  readonly complexity: number;
  readonly expectedOutputTokens: number;
  /** Why the first is first. */
  readonly reason: string;
}

// Expected seconds for the whole answer at which the latency part is 0.5.
const latencyHalfSeconds = 5;
const localProvider = "local";

/** What a request cannot do without: the capability each need asks for. */
function missingCapability(model: Model, needs: RequestNeeds): string | undefined {
  const has = (capability: string) => model.capabilities.includes(capability);
  if (needs.tools && !has("tools")) return "no tools capability";
  if (needs.images && !has("images")) return "no images capability";
  if (needs.jsonSchema && !has("json_schema")) return "no json_schema capability";
  return undefined;
}

/** Completion tokens to expect: more for harder prompts, never more than the client allows. */
export function expectedOutputTokens(needs: RequestNeeds, complexity: number): number {
  const expected = Math.round(200 + 800 * complexity);
  return needs.maxOutputTokens === undefined ? expected : Math.min(needs.maxOutputTokens, expected);
}

/**
 * Scores candidates for a request (docs/auto-routing.md has the formula):
 *   score = quality − costWeight·(1 − complexity)·cost − latencyWeight·latency
 *   quality = 1 − |strength − complexity|
 * Hard filters first: capabilities the request needs, and the context length when a model declares
 * one. Deterministic: equal inputs give the same order (ties by name).
 */
export function rankCandidates(needs: RequestNeeds, complexity: number, candidates: readonly ScoringCandidate[], weights: RouteWeights): RouteRanking {
  const outputTokens = expectedOutputTokens(needs, complexity);
  const excluded: ExcludedCandidate[] = [];
  const fitting: ScoringCandidate[] = [];
  for (const candidate of candidates) {
    const { model } = candidate;
    const missing = missingCapability(model, needs);
    const needed = needs.promptTokens + (needs.maxOutputTokens ?? 0);
    if (missing !== undefined) excluded.push({ name: model.name, reason: missing });
    else if (model.contextLength > 0 && needed > model.contextLength) excluded.push({ name: model.name, reason: `needs ~${needed} tokens, context is ${model.contextLength}` });
    else fitting.push(candidate);
  }
  const costs = fitting.map(({ model }) => (needs.promptTokens * model.inputPricePerMillion + outputTokens * model.outputPricePerMillion) / 1e6);
  const blended = fitting.map(({ model }) => (model.inputPricePerMillion + model.outputPricePerMillion) / 2);
  const costScale = logScale(costs);
  const strengthScale = logScale(blended);
  const latencies = fitting.map((candidate) => latencyPart(candidate.latency, outputTokens));
  const observed = latencies.filter((value): value is number => value !== undefined);
  // Unobserved: the mean of the observed candidates (no preference either way), 0.5 when none is observed.
  const prior = observed.length === 0 ? 0.5 : observed.reduce((sum, value) => sum + value, 0) / observed.length;
  const scored = fitting.map((candidate, index): ScoredCandidate => {
    const strength = Math.min(1, strengthScale(blended[index]!) + (candidate.model.capabilities.includes("reasoning") ? 0.1 : 0));
    const cost = costScale(costs[index]!);
    const latency = latencies[index] ?? prior;
    const quality = 1 - Math.abs(strength - complexity);
    const score = quality - weights.costWeight * (1 - complexity) * cost - weights.latencyWeight * latency;
    return { name: candidate.model.name, score: round(score), costUsd: costs[index]!, cost: round(cost), latency: round(latency), strength: round(strength), local: candidate.model.provider === localProvider };
  });
  scored.sort((a, b) => b.score - a.score || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { ...applyCostThreshold(scored, weights.costThreshold), excluded, complexity, expectedOutputTokens: outputTokens };
}

/** Above the threshold, the best local model goes first. */
function applyCostThreshold(scored: ScoredCandidate[], threshold: number): { ranked: ScoredCandidate[]; reason: string } {
  const best = scored[0];
  if (best === undefined) return { ranked: scored, reason: "no candidate fits" };
  if (threshold > 0 && best.costUsd > threshold && !best.local) {
    const local = scored.find((candidate) => candidate.local);
    if (local !== undefined) return { ranked: [local, ...scored.filter((candidate) => candidate !== local)], reason: `cost over threshold ${threshold}: local model` };
  }
  return { ranked: scored, reason: scored.length === 1 ? "only fitting model" : "best score" };
}

/** Maps values to [0, 1] on a log scale relative to the largest, so 0.1, 1 and 10 spread evenly enough. */
function logScale(values: readonly number[]): (value: number) => number {
  const positive = values.filter((value) => value > 0);
  if (positive.length === 0) return () => 0;
  const smallest = Math.min(...positive);
  const largest = Math.max(...positive);
  const top = Math.log1p(largest / smallest);
  return (value) => (value <= 0 ? 0 : Math.log1p(value / smallest) / top);
}

/** Expected seconds for the whole answer, t / (t + 5 s); undefined when not observed. */
function latencyPart(latency: BackendLatency | undefined, outputTokens: number): number | undefined {
  if (latency === undefined) return undefined;
  const seconds = latency.ttftMs / 1000 + (latency.tokensPerSecond > 0 ? outputTokens / latency.tokensPerSecond : 0);
  return seconds / (seconds + latencyHalfSeconds);
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
