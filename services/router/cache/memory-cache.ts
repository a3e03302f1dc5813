import { LRUCache } from "lru-cache";
import { compactEntry, expandEntry, type CompactEntry } from "./compact-entry.js";
import { entrySize } from "./entry-size.js";
import type { CacheEntry, ResponseCache } from "./response-cache.js";

/** Bounds of the in-process cache. */
export interface MemoryCacheOptions {
  /** Most answers held (CACHE_MAX_ENTRIES); 0 holds none. */
  readonly maxEntries: number;
  /** Most bytes held, as estimated by entry-size.ts (CACHE_MAX_BYTES); 0 holds none. */
  readonly maxBytes: number;
  /** The clock entries expire by (milliseconds since the epoch); tests pass their own. */
  readonly now?: () => number;
}

/** An in-memory cache that can also say how full it is, for tests and metrics. */
export interface MemoryCache extends ResponseCache {
  /** The estimated bytes held now; never above `maxBytes`. */
  readonly heldBytes: () => number;
  /** The answers held now. */
  readonly heldEntries: () => number;
}

/**
 * An in-process LRU (lru-cache) bounded both in entries and in estimated bytes, so a few huge
 * answers cannot take the process's memory: the least recently used go first, and an answer larger
 * than the whole byte bound is not stored at all. Entries expire at their `expiresAt`. Answers of
 * the usual shape are held compact (compact-entry.ts) and rebuilt on a hit.
 */
export function createMemoryCache(options: MemoryCacheOptions): MemoryCache {
  const now = options.now ?? Date.now;
  if (options.maxEntries <= 0 || options.maxBytes <= 0) return createEmptyCache();
  const entries = new LRUCache<string, CacheEntry | CompactEntry>({
    max: options.maxEntries,
    maxSize: options.maxBytes,
    // lru-cache wants a positive integer; the estimate is one already, at least the overhead.
    sizeCalculation: (entry, key) => entrySize(key, entry),
    // Expiry follows the entry's own wall-clock deadline, so a copy of a Redis entry dies with it.
    perf: { now },
    // Read the clock on every check rather than caching it for a millisecond behind a timer.
    ttlResolution: 0,
  });
  return {
    async get(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      return "response" in entry ? entry : expandEntry(entry);
    },
    async set(key, entry) {
      const ttl = Math.ceil(entry.expiresAt - now());
      if (ttl <= 0) return;
      entries.set(key, compactEntry(entry) ?? entry, { ttl });
    },
    async close() {
      entries.clear();
    },
    heldBytes: () => entries.calculatedSize,
    heldEntries: () => entries.size,
  };
}

/** The cache of CACHE_MAX_ENTRIES=0 (or a zero byte bound): stores nothing, finds nothing. */
function createEmptyCache(): MemoryCache {
  return {
    get: async () => undefined,
    set: async () => undefined,
    close: async () => undefined,
    heldBytes: () => 0,
    heldEntries: () => 0,
  };
}
