import type { CompactEntry } from "./compact-entry.js";
import type { CacheEntry } from "./response-cache.js";

// Rough V8 costs on 64-bit Node, meant to err on the high side so a byte bound holds in practice.
// A string is counted at 2 bytes a character: V8 keeps Latin-1 text at 1 byte and anything else at
// 2, so this is an upper bound for the flat strings an answer is made of.
const stringHeader = 16;
const bytesPerCharacter = 2;
const objectHeader = 24;
const arrayHeader = 32;
const slot = 8;
const bigintSize = 24;
const typedArrayHeader = 96;
/** The cache's own bookkeeping per entry: its key map's slot and the LRU's index arrays. */
const entryOverhead = 96;

/** Bytes the compact form of an answer holds: one object of 15 fields, a bigint and four strings. */
const compactBase = objectHeader + 15 * slot + bigintSize + 4 * stringHeader;

/**
 * An estimate of the memory a cache entry holds under `key`: the key, the entry's objects and its
 * strings. It counts what the in-memory cache really keeps (the compact form where there is one),
 * so a byte bound on the sum of these bounds the cache's share of the heap.
 */
export function entrySize(key: string, entry: CacheEntry | CompactEntry): number {
  const keyBytes = stringHeader + bytesPerCharacter * key.length;
  if (!("response" in entry)) {
    const characters = entry.text.length + entry.id.length + entry.model.length + entry.backend.length;
    return entryOverhead + keyBytes + compactBase + bytesPerCharacter * characters;
  }
  return entryOverhead + keyBytes + objectHeader + 2 * slot + treeSize(entry.response);
}

/**
 * The size of a message tree: protobuf-es messages, their lists and JSON values (`extra`). Walked
 * with a stack, not by recursion, since passed-through JSON from an upstream may nest deeply.
 */
function treeSize(root: unknown): number {
  let total = 0;
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    switch (typeof value) {
      case "string":
        total += stringHeader + bytesPerCharacter * value.length;
        break;
      case "bigint":
        total += bigintSize;
        break;
      case "object":
        if (value === null) break;
        if (ArrayBuffer.isView(value)) {
          total += typedArrayHeader + value.byteLength;
        } else if (Array.isArray(value)) {
          total += arrayHeader + slot * value.length;
          for (const item of value) pending.push(item);
        } else {
          // A message's field names and type name are literals shared by every message of its type;
          // a JSON object's keys are strings of its own.
          const isMessage = "$typeName" in value;
          for (const [name, field] of Object.entries(value)) {
            total += slot + (isMessage ? 0 : stringHeader + bytesPerCharacter * name.length);
            if (name !== "$typeName") pending.push(field);
          }
          total += objectHeader;
        }
        break;
      default:
        // Numbers, booleans and undefined live in the slot already counted.
        break;
    }
  }
  return total;
}
