import test from "ava";
import { create } from "@bufbuild/protobuf";
import { ChatResponseSchema, FinishReason, Role, type ChatResponse } from "../../../gen/iir/inference/v1/inference_pb.js";
import { compactEntry } from "./compact-entry.js";
import { entrySize } from "./entry-size.js";
import { createMemoryCache } from "./memory-cache.js";

// The in-process tier: bounded in answers and in bytes, least recently used first, expiring on time.

function answerOf(text: string, extra?: Record<string, string>): ChatResponse {
  return create(ChatResponseSchema, {
    model: "team/chat",
    backend: "fake",
    choices: [{ index: 0, finishReason: FinishReason.STOP, message: { role: Role.ASSISTANT, content: { case: "text", value: text }, ...(extra ? { extra } : {}) } }],
  });
}

const inAMinute = () => Date.now() + 60_000;
const megabyte = 1024 * 1024;

test("answers totalling many times the byte bound never make the cache hold more than the bound", async (t) => {
  const maxBytes = 4 * megabyte;
  const cache = createMemoryCache({ maxEntries: 1000, maxBytes });
  // 300 KB of text each, 600 KB held at 2 bytes a character: 40 of them are six times the bound.
  for (let index = 0; index < 40; index++) {
    await cache.set(`answer ${index}`, { response: answerOf(`${index}`.padEnd(300_000, "x")), expiresAt: inAMinute() });
    t.true(cache.heldBytes() <= maxBytes, `after answer ${index}: ${cache.heldBytes()} bytes held`);
  }
  t.true(cache.heldBytes() > maxBytes / 2, "it is filled, not emptied");
  t.is(cache.heldEntries(), 6, "six answers of ~600 KB fit in 4 MB");
  t.not(await cache.get("answer 39"), undefined, "the newest answers stay");
  t.is(await cache.get("answer 0"), undefined, "the oldest went first");
});

test("an answer larger than the whole byte bound is not stored, and evicts nothing", async (t) => {
  const cache = createMemoryCache({ maxEntries: 1000, maxBytes: megabyte });
  await cache.set("small", { response: answerOf("a few words"), expiresAt: inAMinute() });
  const held = cache.heldBytes();
  await cache.set("huge", { response: answerOf("x".repeat(megabyte)), expiresAt: inAMinute() });
  t.is(await cache.get("huge"), undefined);
  t.is(cache.heldBytes(), held);
  t.not(await cache.get("small"), undefined);
  // Also for an answer kept whole (not compacted), whose size is counted over its message tree.
  await cache.set("huge whole", { response: answerOf("short", { refusal: "y".repeat(megabyte) }), expiresAt: inAMinute() });
  t.is(await cache.get("huge whole"), undefined);
});

test("the size counted is at least what the answer's text takes at 2 bytes a character, compact or whole", (t) => {
  const text = "z".repeat(10_000);
  const compact = compactEntry({ response: answerOf(text), expiresAt: 1 });
  t.not(compact, undefined);
  t.true(entrySize("key", compact!) >= 2 * text.length);
  const whole = { response: answerOf(text, { refusal: "no" }), expiresAt: 1 };
  t.is(compactEntry(whole), undefined);
  t.true(entrySize("key", whole) >= 2 * (text.length + "refusal".length + "no".length));
  t.true(entrySize("k".repeat(5000), compact!) >= entrySize("key", compact!) + 2 * 4997, "the key is held too");
});

test("at most maxEntries answers are held, the least recently used going first", async (t) => {
  const cache = createMemoryCache({ maxEntries: 2, maxBytes: megabyte });
  await cache.set("one", { response: answerOf("1"), expiresAt: inAMinute() });
  await cache.set("two", { response: answerOf("2"), expiresAt: inAMinute() });
  t.not(await cache.get("one"), undefined);
  await cache.set("three", { response: answerOf("3"), expiresAt: inAMinute() });
  t.not(await cache.get("one"), undefined);
  t.is(await cache.get("two"), undefined);
  t.is(cache.heldEntries(), 2);
});

test("an entry is gone once its expiry passes, and one already expired is not stored", async (t) => {
  let clock = 1_000_000;
  const cache = createMemoryCache({ maxEntries: 10, maxBytes: megabyte, now: () => clock });
  await cache.set("soon", { response: answerOf("soon"), expiresAt: clock + 1000 });
  await cache.set("late", { response: answerOf("late"), expiresAt: clock + 5000 });
  await cache.set("past", { response: answerOf("past"), expiresAt: clock });
  t.is(await cache.get("past"), undefined);
  clock += 999;
  t.is((await cache.get("soon"))?.expiresAt, 1_001_000);
  clock += 2;
  t.is(await cache.get("soon"), undefined);
  t.not(await cache.get("late"), undefined);
});

test("a zero bound in entries or bytes holds nothing", async (t) => {
  for (const bounds of [{ maxEntries: 0, maxBytes: megabyte }, { maxEntries: 10, maxBytes: 0 }]) {
    const cache = createMemoryCache(bounds);
    await cache.set("any", { response: answerOf("any"), expiresAt: inAMinute() });
    t.is(await cache.get("any"), undefined);
  }
});
