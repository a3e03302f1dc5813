import type { HandlerContext } from "@connectrpc/connect";
import type { ChatParams } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { Model } from "../../../gen/iir/registry/v1/registry_pb.js";
import { callerKey } from "../auth/caller.js";

/** Request header with which a caller asks that its sampling request be cached (`true`). */
export const cacheSampledHeader = "iir-cache-sampled";

/**
 * Whose answers a request may be answered with: `key` keeps each API key's answers to itself (an
 * open router with no keys is one scope), `global` shares every answer with every key.
 */
export type CacheScope = "key" | "global";

/** What the cache does for one request: look up a stored answer, store the fresh one. */
export interface CachePolicy {
  readonly lookup: boolean;
  readonly store: boolean;
}

/** What the policy needs beyond the request. */
export interface CachePolicyOptions {
  /** The registry entry of a model, for its `cache_sampled` flag; absent: no model opts in. */
  readonly findModel?: (name: string) => Pick<Model, "cacheSampled"> | undefined;
}

const neither: CachePolicy = { lookup: false, store: false };

/**
 * What the cache may do for a request. `Cache-Control: no-store` skips both, `no-cache` skips the
 * lookup. A request that samples is not cached unless the caller sends `iir-cache-sampled: true` or
 * the model's registry entry has `cache_sampled`: its client asked for a fresh draw each time.
 */
export function cachePolicyFor(params: ChatParams, context: HandlerContext, options: CachePolicyOptions): CachePolicy {
  const directives = (context.requestHeader.get("cache-control") ?? "").toLowerCase();
  if (directives.includes("no-store")) return neither;
  if (samples(params) && !samplingOptedIn(params, context, options)) return neither;
  return { lookup: !directives.includes("no-cache"), store: true };
}

/**
 * Whether the model draws at random for this request: a temperature above 0, or none at all (then
 * providers sample at their default, 1 for OpenAI), and no seed. A seed asks for a repeatable draw.
 */
export function samples(params: ChatParams): boolean {
  const greedy = params.temperature !== undefined && params.temperature <= 0;
  return !greedy && params.seed === undefined;
}

function samplingOptedIn(params: ChatParams, context: HandlerContext, options: CachePolicyOptions): boolean {
  if (context.requestHeader.get(cacheSampledHeader)?.trim().toLowerCase() === "true") return true;
  return options.findModel?.(params.model)?.cacheSampled === true;
}

/**
 * The part of a cache key that says whose answer it is: `global`, `open` (a router without API
 * keys) or `key-<id>` of the caller's API key as the router's policy interceptor found it.
 */
export function cacheScopeOf(context: HandlerContext, scope: CacheScope): string {
  if (scope === "global") return "global";
  const keyId = context.values.get(callerKey)?.keyId;
  return keyId === undefined ? "open" : `key-${keyId}`;
}
