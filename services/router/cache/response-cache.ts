import type { ChatResponse } from "../../../gen/iir/inference/v1/inference_pb.js";

/** A stored answer and when it stops being valid (milliseconds since the epoch). */
export interface CacheEntry {
  readonly response: ChatResponse;
  readonly expiresAt: number;
}

/** Where complete answers are kept: Redis when configured (behind a small in-process tier), else memory. */
export interface ResponseCache {
  /** The stored answer, or undefined on a miss — also when the store is down or slow. */
  get(key: string): Promise<CacheEntry | undefined>;
  /** Stores an answer until its expiry; failures are swallowed (and counted), never thrown. */
  set(key: string, entry: CacheEntry): Promise<void>;
  close(): Promise<void>;
}

/** What went wrong with a store operation, for metrics. */
export type CacheProblem = "timeout" | "error";

/**
 * Memory in front of Redis. Entries never change before they expire, so a copy kept in this
 * process until the same expiry answers exactly what Redis would, without the round trip; other
 * routers' answers are found in Redis and copied here on first use.
 */
export function createTieredCache(near: ResponseCache, far: ResponseCache): ResponseCache {
  return {
    async get(key) {
      const local = await near.get(key);
      if (local !== undefined) return local;
      const shared = await far.get(key);
      if (shared !== undefined) await near.set(key, shared);
      return shared;
    },
    async set(key, entry) {
      await near.set(key, entry);
      await far.set(key, entry);
    },
    async close() {
      await near.close();
      await far.close();
    },
  };
}
