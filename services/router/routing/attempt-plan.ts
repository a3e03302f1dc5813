import type { HandlerContext } from "@connectrpc/connect";
import type { ChatParams } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { Model } from "../../../gen/iir/registry/v1/registry_pb.js";
import type { ChatAdapter } from "../adapters/adapter.js";
import { withAttemptTimeouts } from "./attempt-timeouts.js";
import type { CircuitBreakers } from "./circuit-breaker.js";
import type { RouteCandidate, RouteResolver } from "./resolve-route.js";
import { RetryBudgetExhausted, type RetryBudget } from "./retry-budget.js";

/** Timeouts of a request's attempts, in milliseconds; 0: none. */
export interface AttemptTimeoutSettings {
  readonly firstTokenMs: number;
  readonly streamIdleMs: number;
  readonly requestMs: number;
}

/** What a request's attempts are prepared with; everything but the resolver is optional. */
export interface AttemptPlanDeps {
  readonly resolver: RouteResolver;
  /** Wraps candidates to time, count and trace each attempt (chat only). */
  readonly instrument?: (candidates: RouteCandidate[], context: HandlerContext) => RouteCandidate[];
  readonly breakers?: Pick<CircuitBreakers, "guard">;
  readonly timeouts?: AttemptTimeoutSettings;
  readonly retryBudget?: RetryBudget;
  /** Told each time the budget refuses an attempt (the metric, the log). */
  readonly onRetryBudgetExhausted?: (backend: string) => void;
  /** Registry lookup: a model's `ttft_timeout_ms`, its context length and fallbacks. */
  readonly findModel?: (name: string) => Model | undefined;
}

/** One request's attempts: every candidate list it tries shares its deadline and retry accounting. */
export interface RequestAttempts {
  /** The model's candidates, each wrapped in timeouts, instrumentation (with `params`), the retry budget and its breaker. */
  candidates(model: string, params: ChatParams | undefined): RouteCandidate[];
  /**
   * Candidates of the model's registry fallbacks whose context is longer than the model's, for a
   * prompt that did not fit; empty when the registry names none.
   */
  largerContext(model: string, params: ChatParams): RouteCandidate[];
  /**
   * Whether the request's deadline (IIR_REQUEST_TIMEOUT) has passed: no attempt may start then. One
   * that did would be aborted at once, yet spend a retry, open a span and count as its backend's failure.
   */
  outOfTime(): boolean;
}

/** Starts the accounting of one request (counted by the retry budget) and its deadline. */
export function beginRequest(deps: AttemptPlanDeps, context: HandlerContext): RequestAttempts {
  deps.retryBudget?.request();
  const requestMs = deps.timeouts?.requestMs ?? 0;
  const deadline = requestMs > 0 ? Date.now() + requestMs : undefined;
  const calls = { made: 0 };
  const candidates = (model: string, params: ChatParams | undefined): RouteCandidate[] => {
    const resolved = deps.resolver.resolve(model, context.requestHeader, { params, context });
    const modelTimeout = deps.findModel?.(model)?.ttftTimeoutMs ?? 0;
    const timed = withAttemptTimeouts(resolved, {
      firstTokenMs: modelTimeout > 0 ? modelTimeout : (deps.timeouts?.firstTokenMs ?? 0),
      streamIdleMs: deps.timeouts?.streamIdleMs ?? 0,
      deadline,
    });
    // Embeddings are not instrumented like chat attempts: the instrumented adapter has chat and chatStream only.
    const instrumented = params === undefined || deps.instrument === undefined ? timed : deps.instrument(timed, context);
    const budgeted = deps.retryBudget === undefined ? instrumented : instrumented.map((candidate) => withRetryBudget(candidate, deps, calls));
    // Outside the rest: a backend skipped by its breaker is no attempt, no span, no backend error, no retry spent.
    return deps.breakers === undefined ? budgeted : deps.breakers.guard(budgeted, context.signal);
  };
  return {
    candidates,
    outOfTime: () => deadline !== undefined && Date.now() >= deadline,
    largerContext(model, params) {
      const entry = deps.findModel?.(model);
      if (entry === undefined || entry.contextLength <= 0) return [];
      const larger: RouteCandidate[] = [];
      for (const name of entry.fallbacks) {
        const fallback = deps.findModel?.(name);
        if (fallback === undefined || !fallback.enabled || fallback.contextLength <= entry.contextLength) continue;
        try {
          larger.push(...candidates(name, { ...params, model: name }));
        } catch {
          // Not callable now (no key, no live agent): the next larger model may be.
          continue;
        }
      }
      return larger;
    },
  };
}

/**
 * Every upstream call after the request's first spends one retry of the budget; a refused call throws
 * RetryBudgetExhausted before anything is sent. Checked when the stream is opened, not per part.
 */
function withRetryBudget(candidate: RouteCandidate, deps: AttemptPlanDeps, calls: { made: number }): RouteCandidate {
  const { adapter } = candidate;
  const admit = () => {
    if (calls.made > 0 && !deps.retryBudget!.tryRetry()) {
      deps.onRetryBudgetExhausted?.(candidate.target.backend);
      throw new RetryBudgetExhausted(candidate.target.backend);
    }
    calls.made += 1;
  };
  const budgeted: ChatAdapter = {
    async chat(params, target, signal) {
      admit();
      return adapter.chat(params, target, signal);
    },
    chatStream(params, target, signal) {
      return {
        [Symbol.asyncIterator]() {
          admit();
          return adapter.chatStream(params, target, signal)[Symbol.asyncIterator]();
        },
      };
    },
  };
  if (adapter.countTokens !== undefined) budgeted.countTokens = adapter.countTokens.bind(adapter);
  if (adapter.listModels !== undefined) budgeted.listModels = adapter.listModels.bind(adapter);
  const embed = adapter.embed;
  if (embed !== undefined) {
    budgeted.embed = async (request, target, signal) => {
      admit();
      return embed.call(adapter, request, target, signal);
    };
  }
  return { ...candidate, adapter: budgeted };
}
