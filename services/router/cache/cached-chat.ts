import type { HandlerContext } from "@connectrpc/connect";
import { FinishReason, type ChatParams, type ChatResponse, type ChatStreamResponse } from "../../../gen/iir/inference/v1/inference_pb.js";
import { createChatResponseAssembler, partsFromChatResponse } from "../../common/chat-response-parts.js";
import { iterableOf } from "../../common/async-iterables.js";
import { observeIterable } from "../../common/telemetry/observe-iterable.js";
import { cacheKeyFor } from "./cache-key.js";
import { cachePolicyFor, cacheScopeOf, type CachePolicy, type CachePolicyOptions, type CacheScope } from "./cache-policy.js";
import type { ResponseCache } from "./response-cache.js";

/** Response header telling the caller what the cache did: hit, miss or bypass. */
export const cacheResultHeader = "iir-cache";

/** The response cache, how long answers live in it and who shares them. */
export interface CacheSettings extends CachePolicyOptions {
  readonly store: ResponseCache;
  /** 0 turns caching off. */
  readonly ttlSeconds: number;
  /** Whose answers a request may get (CACHE_SCOPE); absent: `key`, each API key its own. */
  readonly scope?: CacheScope;
  /** Told about every lookup's result, for metrics. */
  readonly onResult?: (result: CacheResult) => void;
}

export type CacheResult = "hit" | "miss" | "bypass";

/** Wraps the router's answer paths with the response cache. */
export interface CachedChat {
  chat(params: ChatParams, context: HandlerContext, answer: () => Promise<ChatResponse>): Promise<ChatResponse>;
  /** Resolves, after the lookup, to the parts to stream: a hit's, or `answer()`'s (stored once complete). */
  chatStream(params: ChatParams, context: HandlerContext, answer: () => AsyncIterable<ChatStreamResponse>): Promise<AsyncIterable<ChatStreamResponse>>;
}

const cacheableReasons = new Set([FinishReason.STOP, FinishReason.LENGTH, FinishReason.TOOL_CALLS]);

/**
 * Answers repeat requests from the cache and stores complete, successful answers: every choice
 * finished with stop, length or tool_calls. Errors, cancelled streams and content-filtered answers
 * are never stored, nor are sampling requests unless opted in (cache-policy.ts). Keys carry the
 * caller's scope, so one API key never gets another's answer unless the scope is `global`. A hit on
 * a stream is replayed as parts marked `cached`.
 */
export function createCachedChat(settings: CacheSettings | undefined): CachedChat {
  const policyOf = (params: ChatParams, context: HandlerContext): CachePolicy => {
    if (settings === undefined || settings.ttlSeconds <= 0) return { lookup: false, store: false };
    return cachePolicyFor(params, context, settings);
  };
  const keyOf = (policy: CachePolicy, params: ChatParams, context: HandlerContext): string =>
    policy.store ? `${cacheScopeOf(context, settings?.scope ?? "key")}:${cacheKeyFor(params)}` : "";
  const report = (context: HandlerContext, result: CacheResult) => {
    context.responseHeader.set(cacheResultHeader, result);
    settings?.onResult?.(result);
  };
  const lookup = async (policy: CachePolicy, key: string): Promise<ChatResponse | undefined> =>
    policy.lookup && settings !== undefined ? (await settings.store.get(key))?.response : undefined;
  const store = async (key: string, response: ChatResponse) => {
    if (settings === undefined || !isCacheable(response)) return;
    await settings.store.set(key, { response: { ...response, id: "", cached: false }, expiresAt: Date.now() + settings.ttlSeconds * 1000 });
  };

  return {
    async chat(params, context, answer) {
      const policy = policyOf(params, context);
      const key = keyOf(policy, params, context);
      const hit = await lookup(policy, key);
      if (hit !== undefined) {
        report(context, "hit");
        return { ...hit, cached: true, created: BigInt(Math.floor(Date.now() / 1000)) };
      }
      report(context, policy.store ? "miss" : "bypass");
      const response = await answer();
      // As for streams, storing does not hold up the answer: the in-process tier has the entry at
      // once, and Redis's write (a round trip, or up to CACHE_TIMEOUT_MS when Redis is slow) follows.
      if (policy.store) void store(key, response);
      return response;
    },
    async chatStream(params, context, answer) {
      const policy = policyOf(params, context);
      const key = keyOf(policy, params, context);
      const hit = await lookup(policy, key);
      if (hit !== undefined) {
        report(context, "hit");
        return iterableOf(partsFromChatResponse(hit, true));
      }
      report(context, policy.store ? "miss" : "bypass");
      if (!policy.store) return answer();
      const assembler = createChatResponseAssembler();
      // Parts pass through as they come; the answer is assembled beside them and stored once the
      // stream finished. Storing never fails (the stores swallow their errors) and does not hold up
      // the stream's end; the in-process tier has the entry before the last part is handed on.
      return observeIterable(answer(), {
        value: (part) => assembler.add(part),
        done: () => {
          const { response, finished } = assembler.result();
          if (finished) void store(key, response);
        },
      });
    },
  };
}

function isCacheable(response: ChatResponse): boolean {
  return response.choices.length > 0 && response.choices.every((choice) => cacheableReasons.has(choice.finishReason));
}
