import { compactEntry, expandEntry, type CompactEntry } from "./compact-entry.js";
import type { CacheEntry, ResponseCache } from "./response-cache.js";

/**
 * An in-process LRU bounded by entry count: a Map keeps insertion order, so a hit is re-inserted
 * to become the newest and the oldest key is evicted first. Expired entries go on lookup. Answers
 * of the usual shape are held compact (compact-entry.ts) and rebuilt on a hit.
 */
export function createMemoryCache(options: { maxEntries: number; now?: () => number }): ResponseCache {
  const entries = new Map<string, CacheEntry | CompactEntry>();
  const now = options.now ?? Date.now;
  return {
    async get(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      entries.delete(key);
      if (entry.expiresAt <= now()) return undefined;
      entries.set(key, entry);
      return "response" in entry ? entry : expandEntry(entry);
    },
    async set(key, entry) {
      if (options.maxEntries <= 0 || entry.expiresAt <= now()) return;
      entries.delete(key);
      entries.set(key, compactEntry(entry) ?? entry);
      while (entries.size > options.maxEntries) {
        const oldest = entries.keys().next().value as string;
        entries.delete(oldest);
      }
    },
    async close() {
      entries.clear();
    },
  };
}
