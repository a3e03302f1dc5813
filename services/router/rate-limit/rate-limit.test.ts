import test from "ava";
import { createMemoryRateLimitStore } from "./memory-rate-limit-store.js";
import { formatResetDuration, retryAfterSeconds } from "./rate-limit-headers.js";

test("reset durations read like OpenAI's x-ratelimit-reset-* values", (t) => {
  t.is(formatResetDuration(0), "0s");
  t.is(formatResetDuration(-5), "0s");
  t.is(formatResetDuration(17), "17ms");
  t.is(formatResetDuration(1000), "1s");
  t.is(formatResetDuration(8640), "8.64s");
  t.is(formatResetDuration(59_999), "59.999s");
  t.is(formatResetDuration(60_000), "1m0s");
  t.is(formatResetDuration(360_000), "6m0s");
  t.is(formatResetDuration(3_723_500), "1h2m3.5s");
});

test("Retry-After is whole seconds, rounded up, at least one", (t) => {
  t.is(retryAfterSeconds(0), 1);
  t.is(retryAfterSeconds(1), 1);
  t.is(retryAfterSeconds(1001), 2);
  t.is(retryAfterSeconds(59_000), 59);
});

test("the memory store refuses once a budget is spent and admits again when the window ends", async (t) => {
  let now = 1_000_000;
  const store = createMemoryRateLimitStore({ windowMs: 60_000, now: () => now });
  t.teardown(() => store.close());
  const limits = { requests: 2, tokens: 100 };
  t.like(await store.admit("key", limits), { refusedBy: undefined, requests: { used: 1, resetMs: 60_000 }, tokens: { used: 0, resetMs: 0 } });
  now += 10_000;
  t.like(await store.admit("key", limits), { refusedBy: undefined, requests: { used: 2, resetMs: 50_000 } });
  t.like(await store.admit("key", limits), { refusedBy: "requests", requests: { used: 2, resetMs: 50_000 } }, "refused requests are not counted");
  t.like(await store.admit("other", limits), { refusedBy: undefined, requests: { used: 1 } }, "keys have separate budgets");
  now += 50_000;
  t.like(await store.admit("key", limits), { refusedBy: undefined, requests: { used: 1, resetMs: 60_000 } });

  await store.addTokens("key", 70);
  now += 1000;
  await store.addTokens("key", 30);
  t.like(await store.admit("key", limits), { refusedBy: "tokens", tokens: { used: 100, resetMs: 59_000 } });
  t.like(await store.admit("key", { tokens: 1000 }), { refusedBy: undefined, tokens: { used: 100 } }, "a larger budget still has room");
  now += 59_000;
  t.like(await store.admit("key", limits), { refusedBy: undefined, tokens: { used: 0, resetMs: 0 } });
});
