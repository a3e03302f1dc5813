import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  InferenceService,
  ListModelsResponseSchema,
  ModelInfoSchema,
  type ChatParams,
  type ChatResponse,
  type ChatStreamResponse,
  type EmbedRequest,
  type EmbedResponse,
} from "../../gen/iir/inference/v1/inference_pb.js";
import type { Model } from "../../gen/iir/registry/v1/registry_pb.js";
import type { ModelInfo } from "../../gen/iir/inference/v1/inference_pb.js";
import { isRetryableCode } from "../common/errors.js";
import type { LiveAgent } from "./agents/agent-directory.js";
import type { RouteCandidate, RouteResolver } from "./routing/resolve-route.js";
import type { CircuitBreakers } from "./routing/circuit-breaker.js";
import { beginRequest, type AttemptTimeoutSettings, type RequestAttempts } from "./routing/attempt-plan.js";
import { isContextLengthExceeded } from "./routing/context-length.js";
import { isRetryBudgetExhausted, type RetryBudget } from "./routing/retry-budget.js";
import { validateChatParams } from "../common/validate-chat-params.js";
import { createCachedChat, type CacheSettings } from "./cache/cached-chat.js";
import { createCachedEmbed } from "./cache/cached-embed.js";
import { validateEmbedRequest } from "../common/validate-embed-request.js";
import { deferIterable } from "../common/async-iterables.js";
import { observeIterable } from "../common/telemetry/observe-iterable.js";

/** What the router's InferenceService needs. */
export interface InferenceServiceDeps {
  readonly resolver: RouteResolver;
  /** Models to list: the registry snapshot. */
  readonly listModels: () => readonly Model[];
  /** Models served by agents that beat recently, with their agents. */
  readonly liveAgentModels?: () => ReadonlyMap<string, readonly LiveAgent[]>;
  /** Models the configured providers list (`<provider>/<id>`), as last read; absent: none. */
  readonly providerModels?: () => readonly ModelInfo[];
  /** The response cache; absent: every answer comes from a backend. */
  readonly cache?: CacheSettings;
  /** Wraps a request's candidates to time, count and trace each attempt; absent: they run as resolved. */
  readonly instrument?: (candidates: RouteCandidate[], context: HandlerContext) => RouteCandidate[];
  /** Skips backends whose circuit breaker is open and counts each attempt's outcome; absent: every candidate is called. */
  readonly breakers?: Pick<CircuitBreakers, "guard">;
  /** Time to first token, stream idle and whole-request limits; absent: none beyond the adapters' own. */
  readonly timeouts?: AttemptTimeoutSettings;
  /** Limits upstream calls beyond each request's first; absent: every candidate may be tried. */
  readonly retryBudget?: RetryBudget;
  /** Told each time the retry budget refuses an attempt (metric, log). */
  readonly onRetryBudgetExhausted?: (backend: string) => void;
  /** Registry lookup for per-model timeouts and the larger-context fallbacks; absent: neither. */
  readonly findModel?: (name: string) => Model | undefined;
}

/**
 * The router's InferenceService: resolves the model, then tries candidates in order. A failed
 * attempt moves on to the next candidate only while nothing has reached the client.
 */
export function createInferenceService(deps: InferenceServiceDeps): ServiceImpl<typeof InferenceService> {
  const cached = createCachedChat(deps.cache);
  const cachedEmbed = createCachedEmbed(deps.cache);
  return {
    async chat(request, context) {
      validateChatParams(request.params);
      const params = request.params;
      return cached.chat(params, context, () => {
        const attempts = beginRequest(deps, context);
        const candidates = attempts.candidates(params.model, params);
        return attemptInOrder(candidates, context, attempts, (candidate) => answer(candidate, params, context), () => attempts.largerContext(params.model, params));
      });
    },
    chatStream(request, context) {
      // Not a generator: each part would pass through one more; the parts are handed on as they come.
      return deferIterable(async () => {
        validateChatParams(request.params);
        const params = request.params;
        return cached.chatStream(params, context, () => streamFromCandidates(deps, params, context));
      });
    },
    async embed(request, context) {
      validateEmbedRequest(request);
      return cachedEmbed.embed(request, context, () => {
        const attempts = beginRequest(deps, context);
        return attemptInOrder(attempts.candidates(request.model, undefined), context, attempts, (candidate) => embedWith(candidate, request, context));
      });
    },
    async countTokens(request, context) {
      validateChatParams(request.params);
      const params = request.params;
      // The model's first candidate counts: its tokenizer is the one the answer would use. Not
      // instrumented like chat attempts (the instrumented adapter has chat and chatStream only).
      const candidate = deps.resolver.resolve(params.model, context.requestHeader, { params, context })[0];
      if (candidate === undefined) throw new ConnectError(`The model '${params.model}' does not exist or you do not have access to it.`, Code.NotFound);
      if (candidate.adapter.countTokens === undefined) {
        throw new ConnectError(`counting tokens is not supported for '${params.model}': its backend (${candidate.target.backend}) cannot count them`, Code.Unimplemented);
      }
      const end = candidate.begin?.();
      try {
        const inputTokens = await candidate.adapter.countTokens(params, candidate.target, context.signal);
        return { inputTokens, backend: candidate.target.backend };
      } finally {
        end?.();
      }
    },
    async listModels() {
      const models = deps.listModels().filter((model) => model.enabled);
      const listed = models.map((model) =>
        create(ModelInfoSchema, {
          id: model.name,
          ownedBy: model.provider,
          created: model.createdAt / 1000n,
          provider: model.provider,
          contextLength: model.contextLength,
        }),
      );
      const names = new Set(models.map((model) => model.name));
      for (const [id, agents] of deps.liveAgentModels?.() ?? []) {
        if (names.has(id)) continue;
        // The earliest time any live agent of the model was heard from stands in for its creation.
        const seen = Math.min(...agents.map((agent) => agent.lastSeenAt));
        listed.push(create(ModelInfoSchema, { id, ownedBy: "local", created: BigInt(Math.floor(seen / 1000)), provider: "local" }));
        names.add(id);
      }
      // What providers offer comes last; a registry or agent name of the same id stands.
      for (const model of deps.providerModels?.() ?? []) if (!names.has(model.id)) listed.push(model);
      return create(ListModelsResponseSchema, { models: listed });
    },
  };
}

/** Streams from the first candidate that starts; later ones only while nothing reached the client. */
function streamFromCandidates(deps: InferenceServiceDeps, params: ChatParams, context: HandlerContext): AsyncIterable<ChatStreamResponse> {
  const attempts = beginRequest(deps, context);
  const candidates = attempts.candidates(params.model, params);
  // A lone candidate with no larger-context model to turn to needs no attempt loop around its parts.
  if (candidates.length !== 1 || hasFallbacks(deps, params.model)) return streamWithFallbacks(candidates, attempts, params, context);
  const candidate = candidates[0]!;
  const parts = candidate.adapter.chatStream(params, candidate.target, context.signal);
  return candidate.begin === undefined ? parts : observeIterable(parts, { end: candidate.begin() });
}

function hasFallbacks(deps: InferenceServiceDeps, model: string): boolean {
  return (deps.findModel?.(model)?.fallbacks.length ?? 0) > 0;
}

async function* streamWithFallbacks(initial: RouteCandidate[], attempts: RequestAttempts, params: ChatParams, context: HandlerContext): AsyncGenerator<ChatStreamResponse> {
  const failures = new AttemptFailures(initial, attempts, () => attempts.largerContext(params.model, params));
  for (let candidate = failures.next(); candidate !== undefined; candidate = failures.next()) {
    let started = false;
    const end = candidate.begin?.();
    try {
      for await (const part of candidate.adapter.chatStream(params, candidate.target, context.signal)) {
        started = true;
        yield part;
      }
      return;
    } catch (error) {
      if (started) throw error;
      failures.failed(error, context);
    } finally {
      end?.();
    }
  }
  throw failures.final();
}

async function answer(
  candidate: RouteCandidate,
  params: Parameters<RouteCandidate["adapter"]["chat"]>[0],
  context: HandlerContext,
): Promise<ChatResponse> {
  const end = candidate.begin?.();
  try {
    const response = await candidate.adapter.chat(params, candidate.target, context.signal);
    if (!response.backend) response.backend = candidate.target.backend;
    return response;
  } finally {
    end?.();
  }
}

/** One embeddings attempt; a backend without embeddings is Unimplemented, naming the model. */
async function embedWith(candidate: RouteCandidate, request: EmbedRequest, context: HandlerContext): Promise<EmbedResponse> {
  const embed = candidate.adapter.embed;
  if (embed === undefined) {
    throw new ConnectError(`model "${request.model}" does not serve embeddings: its backend ${candidate.target.backend} has no embeddings API`, Code.Unimplemented);
  }
  const end = candidate.begin?.();
  try {
    const response = await embed.call(candidate.adapter, request, candidate.target, context.signal);
    if (response.embeddings.length !== request.inputs.length) {
      throw new ConnectError(`${candidate.target.backend} returned ${response.embeddings.length} embeddings for ${request.inputs.length} inputs`, Code.Unavailable);
    }
    if (!response.backend) response.backend = candidate.target.backend;
    return response;
  } finally {
    end?.();
  }
}

async function attemptInOrder<T>(
  candidates: RouteCandidate[],
  context: HandlerContext,
  attempts: Pick<RequestAttempts, "outOfTime">,
  attempt: (candidate: RouteCandidate) => Promise<T>,
  largerContext: () => RouteCandidate[] = () => [],
): Promise<T> {
  const failures = new AttemptFailures(candidates, attempts, largerContext);
  for (let candidate = failures.next(); candidate !== undefined; candidate = failures.next()) {
    try {
      return await attempt(candidate);
    } catch (error) {
      failures.failed(error, context);
    }
  }
  throw failures.final();
}

/**
 * The attempt loop's bookkeeping: which candidate comes next after a failure, or none. A retryable
 * failure moves on; a prompt too long for the model moves once to the fallbacks with a longer
 * context; a retry the budget refused, a cancel or the request's deadline ends the request with the
 * last real failure.
 */
class AttemptFailures {
  private index = -1;
  private last: unknown;
  private done = false;
  private widened = false;

  constructor(
    private candidates: RouteCandidate[],
    private readonly attempts: Pick<RequestAttempts, "outOfTime">,
    private readonly largerContext: () => RouteCandidate[],
  ) {}

  next(): RouteCandidate | undefined {
    if (this.done) return undefined;
    this.index += 1;
    if (this.index < this.candidates.length) return this.candidates[this.index];
    this.done = true;
    return undefined;
  }

  /** Records a failure before anything reached the client; throws it when nothing may follow. */
  failed(error: unknown, context: HandlerContext): void {
    if (isRetryBudgetExhausted(error)) {
      this.done = true;
      return;
    }
    this.last = error;
    // Cancelled, or past the request's deadline: a next attempt would only be aborted at once.
    if (context.signal.aborted || this.attempts.outOfTime()) throw error;
    if (!this.widened && isContextLengthExceeded(error)) {
      this.widened = true;
      const larger = this.largerContext();
      // None longer in the registry: the model's own error stands.
      if (larger.length === 0) throw error;
      this.candidates = larger;
      this.index = -1;
      return;
    }
    if (!isRetryableCode(ConnectError.from(error).code) || this.index + 1 >= this.candidates.length) throw error;
  }

  /** The error the request ends with when no candidate is left. */
  final(): unknown {
    return this.last ?? new ConnectError("no backend could be tried", Code.Unavailable);
  }
}

