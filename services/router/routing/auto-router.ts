import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ChatParams } from "../../../gen/iir/inference/v1/inference_pb.js";
import { ModelSchema, type Model } from "../../../gen/iir/registry/v1/registry_pb.js";
import { serverSpanKey } from "../../common/telemetry/traced-inference-service.js";
import type { BackendStats } from "./backend-stats.js";
import { breakerKey } from "./circuit-breaker.js";
import { heuristicComplexity, type ComplexityClassifier } from "./complexity.js";
import { requestNeeds } from "./request-needs.js";
import type { RouteCall, RouteCandidate, RouteResolver } from "./resolve-route.js";
import { rankCandidates, type RouteRanking, type RouteWeights, type ScoredCandidate, type ScoringCandidate } from "./route-score.js";

/** The built-in router's name: `model: "auto"`. */
export const autoModelName = "auto";
/** Provider type of registry router entries (`auto-cheap`…). */
export const routerProvider = "auto";
/** Response header that says which model `auto` chose and why. */
export const routeHeader = "x-iir-route";

const agentProvider = "local";

/** What `auto` routing reads; all of it at request time, so registry edits and new agents count at once. */
export interface AutoRouterDeps {
  /** Resolves the chosen model's candidates (and tells which models cannot be called now). */
  readonly inner: RouteResolver;
  readonly findModel: (name: string) => Model | undefined;
  readonly listModels: () => readonly Model[];
  /** Models live agents serve; absent: none. */
  readonly liveAgentModels?: () => Iterable<string>;
  /** Observed latency per backend; absent: every model gets the neutral prior. */
  readonly stats?: Pick<BackendStats, "latency">;
  /** ROUTER_COST_WEIGHT, ROUTER_LATENCY_WEIGHT, ROUTER_COST_THRESHOLD; a router entry's own settings win. */
  readonly weights: RouteWeights;
  /** Default: the heuristic (complexity.ts). */
  readonly classifier?: ComplexityClassifier;
}

/** A candidate model the ranking passed over, and why. */
export interface SkippedModel {
  readonly name: string;
  readonly reason: string;
}

/** What `auto` decided for one request: the header, the span and `iir route explain` say the same. */
export interface RouteDecision {
  readonly router: string;
  readonly ranking: RouteRanking;
  readonly weights: RouteWeights;
  readonly classifier: string;
  /** The model chosen; undefined when none could be called. */
  readonly chosen: ScoredCandidate | undefined;
  /** Its first backend: `agent:<id>` or `<provider>/<upstream model>` (never a URL or key). */
  readonly deployment: string | undefined;
  readonly reason: string;
  /** Ranked models that could not be called now. */
  readonly skipped: readonly SkippedModel[];
  /** The chosen model's candidates, then the runner-up's (tried when the chosen one fails before answering). */
  readonly candidates: readonly RouteCandidate[];
}

/** Whether `model` names a router: `auto` (unless the registry has a plain model of that name), or a registry entry of provider "auto". */
export function isRouterName(model: string, findModel: (name: string) => Model | undefined): boolean {
  const entry = findModel(model);
  if (entry !== undefined) return entry.provider === routerProvider;
  return model === autoModelName;
}

/**
 * Decides where a router request goes: ranks the candidate models (route-score.ts), then takes the
 * best one the inner resolver can resolve now. Calls no backend.
 */
export function decideRoute(deps: AutoRouterDeps, router: string, params: ChatParams, requestHeaders?: Headers, call?: RouteCall): RouteDecision {
  const entry = deps.findModel(router);
  const weights = weightsFor(entry, deps.weights);
  const classifier = deps.classifier ?? heuristicComplexity;
  const complexity = Math.min(1, Math.max(0, classifier.estimate(params)));
  const resolved = new Map<string, RouteCandidate[] | ConnectError>();
  const scoring: ScoringCandidate[] = [];
  const { models, missing } = candidateModels(deps, entry);
  for (const model of models) {
    const attempt = resolveQuietly(deps.inner, model.name, requestHeaders, call);
    resolved.set(model.name, attempt);
    const first = Array.isArray(attempt) ? attempt[0] : undefined;
    scoring.push({ model, latency: first === undefined ? undefined : deps.stats?.latency(breakerKey(first.target)) });
  }
  const ranking = rankCandidates(requestNeeds(params), complexity, scoring, weights);
  const withMissing = { ...ranking, excluded: [...missing, ...ranking.excluded] };
  const skipped: SkippedModel[] = [];
  const callable: { scored: ScoredCandidate; candidates: RouteCandidate[] }[] = [];
  for (const scored of ranking.ranked) {
    const attempt = resolved.get(scored.name);
    if (Array.isArray(attempt) && attempt.length > 0) callable.push({ scored, candidates: attempt });
    else skipped.push({ name: scored.name, reason: attempt instanceof ConnectError ? attempt.rawMessage : "no backend" });
    if (callable.length === 2) break;
  }
  const [winner, runnerUp] = callable;
  const reason = winner === undefined ? "no candidate can be called" : winner.scored === ranking.ranked[0] ? ranking.reason : `${ranking.ranked[0]!.name} cannot be called now`;
  return {
    router,
    ranking: withMissing,
    weights,
    classifier: classifier.name,
    chosen: winner?.scored,
    deployment: winner === undefined ? undefined : deploymentLabel(winner.candidates[0]!),
    reason,
    skipped,
    candidates: winner === undefined ? [] : [...winner.candidates, ...(runnerUp?.candidates ?? [])],
  };
}

/**
 * `auto` and registry routers as a decorator of the resolver: a router name becomes the candidates
 * of the model {@link decideRoute} chose, and the call's `x-iir-route` header and server span say
 * which and why. Every other name goes to the inner resolver untouched.
 */
export function createAutoRouter(deps: AutoRouterDeps): RouteResolver {
  return {
    resolve(model, requestHeaders, call) {
      if (!isRouterName(model, deps.findModel)) return deps.inner.resolve(model, requestHeaders, call);
      const entry = deps.findModel(model);
      // Disabled: the inner resolver gives the usual NotFound.
      if (entry !== undefined && !entry.enabled) return deps.inner.resolve(model, requestHeaders, call);
      // Embeddings and token counts have no chat request to score.
      if (call?.params === undefined) throw new ConnectError(`'${model}' routes chat requests only: name a model`, Code.InvalidArgument);
      const decision = decideRoute(deps, model, call.params, requestHeaders, call);
      if (decision.chosen === undefined) throw noRoute(decision);
      call.context?.responseHeader.set(routeHeader, routeHeaderValue(decision));
      call.context?.values.get(serverSpanKey)?.setAttributes(routeSpanAttributes(decision));
      return [...decision.candidates];
    },
  };
}

/** The compact `x-iir-route` value: `model=…; deployment=…; score=…; cost_usd=…; cost=…; latency=…; complexity=…; router=…; reason=…`. */
export function routeHeaderValue(decision: RouteDecision): string {
  const chosen = decision.chosen;
  const parts: [string, string][] = [
    ["model", chosen?.name ?? "none"],
    ["deployment", decision.deployment ?? "none"],
    ["score", String(chosen?.score ?? 0)],
    ["cost_usd", formatUsd(chosen?.costUsd ?? 0)],
    ["cost", String(chosen?.cost ?? 0)],
    ["latency", String(chosen?.latency ?? 0)],
    ["complexity", String(decision.ranking.complexity)],
    ["router", decision.router],
    ["reason", decision.reason],
  ];
  return parts.map(([key, value]) => `${key}=${headerSafe(value)}`).join("; ");
}

/** The same as span attributes (`iir.route.*`). */
export function routeSpanAttributes(decision: RouteDecision): Record<string, string | number> {
  const chosen = decision.chosen;
  return {
    "iir.route.router": decision.router,
    "iir.route.model": chosen?.name ?? "",
    "iir.route.deployment": decision.deployment ?? "",
    "iir.route.score": chosen?.score ?? 0,
    "iir.route.cost_usd": chosen?.costUsd ?? 0,
    "iir.route.latency": chosen?.latency ?? 0,
    "iir.route.complexity": decision.ranking.complexity,
    "iir.route.reason": decision.reason,
  };
}

/** USD with four significant digits, never in exponent notation. */
export function formatUsd(value: number): string {
  if (value === 0) return "0";
  const digits = Math.max(2, 3 - Math.floor(Math.log10(value)));
  return value.toFixed(Math.min(digits, 12)).replace(/0+$/, "").replace(/\.$/, "");
}

/** The entry's weights where it sets them (non-zero), else the router's. */
function weightsFor(entry: Model | undefined, defaults: RouteWeights): RouteWeights {
  const own = entry?.provider === routerProvider ? entry.auto : undefined;
  return {
    costWeight: own?.costWeight || defaults.costWeight,
    latencyWeight: own?.latencyWeight || defaults.latencyWeight,
    costThreshold: own?.costThreshold || defaults.costThreshold,
  };
}

/** The entry's listed candidates, or every enabled non-router model with prices or agents. */
function candidateModels(deps: AutoRouterDeps, entry: Model | undefined): { models: Model[]; missing: SkippedModel[] } {
  const live = new Set(deps.liveAgentModels?.() ?? []);
  const agentModel = (name: string) => create(ModelSchema, { name, provider: agentProvider, enabled: true });
  const listed = entry?.provider === routerProvider ? (entry.auto?.candidates ?? []) : [];
  if (listed.length > 0) {
    const models: Model[] = [];
    const missing: SkippedModel[] = [];
    for (const name of new Set(listed)) {
      const model = deps.findModel(name);
      if (model === undefined && live.has(name)) models.push(agentModel(name));
      else if (model === undefined) missing.push({ name, reason: "not in the registry" });
      else if (!model.enabled) missing.push({ name, reason: "disabled" });
      else if (model.provider === routerProvider) missing.push({ name, reason: "a router itself" });
      else models.push(model);
    }
    return { models, missing };
  }
  const models = deps
    .listModels()
    .filter((model) => model.enabled && model.provider !== routerProvider && (model.provider === agentProvider || model.inputPricePerMillion > 0 || model.outputPricePerMillion > 0));
  const names = new Set(deps.listModels().map((model) => model.name));
  for (const name of [...live].sort()) if (!names.has(name)) models.push(agentModel(name));
  return { models, missing: [] };
}

function resolveQuietly(inner: RouteResolver, model: string, requestHeaders: Headers | undefined, call: RouteCall | undefined): RouteCandidate[] | ConnectError {
  try {
    return inner.resolve(model, requestHeaders, call);
  } catch (error) {
    return ConnectError.from(error);
  }
}

function deploymentLabel(candidate: RouteCandidate): string {
  const { target } = candidate;
  return target.provider === agentProvider ? `agent:${target.backend}` : `${target.provider}/${target.upstreamModel}`;
}

function noRoute(decision: RouteDecision): ConnectError {
  const reasons = [...decision.ranking.excluded, ...decision.skipped].map((entry) => `${entry.name}: ${entry.reason}`);
  const detail = reasons.length === 0 ? "it has no candidate models (register models with prices, or start an agent)" : reasons.join("; ");
  // Nothing fits the request: the request's fault. Something fits but is down: the gateway's.
  const code = decision.ranking.ranked.length === 0 ? Code.InvalidArgument : Code.Unavailable;
  return new ConnectError(`no model behind '${decision.router}' can serve this request: ${detail}`, code);
}

// Header values: printable ASCII without the separators this header uses.
function headerSafe(value: string): string {
  return value.replace(/[^\x20-\x7e]|[;=]/g, "_");
}
