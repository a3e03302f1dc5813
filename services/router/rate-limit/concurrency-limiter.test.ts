import test from "ava";
import { createConcurrencyLimiter } from "./concurrency-limiter.js";

test("a subject gets `limit` slots at once; a released one can be taken again; other subjects count apart", (t) => {
  const limiter = createConcurrencyLimiter();
  const first = limiter.acquire("key-a", 2);
  const second = limiter.acquire("key-a", 2);
  t.truthy(first);
  t.truthy(second);
  t.is(limiter.acquire("key-a", 2), undefined, "the third call in flight is refused");
  t.is(limiter.inFlight("key-a"), 2, "a refusal counts nothing");
  t.truthy(limiter.acquire("key-b", 1), "another key has slots of its own");
  first?.();
  t.is(limiter.inFlight("key-a"), 1);
  t.truthy(limiter.acquire("key-a", 2));
  t.is(limiter.inFlight("key-a"), 2);
});

test("a slot is released once however often its release is called, and the count never goes below zero", (t) => {
  const limiter = createConcurrencyLimiter();
  const kept = limiter.acquire("key", 3);
  const release = limiter.acquire("key", 3);
  release?.();
  release?.();
  release?.();
  t.is(limiter.inFlight("key"), 1, "the other call's slot is still held");
  kept?.();
  kept?.();
  t.is(limiter.inFlight("key"), 0);
  const slots = [limiter.acquire("key", 3), limiter.acquire("key", 3), limiter.acquire("key", 3)];
  t.true(slots.every((slot) => slot !== undefined), "all three slots are free again, none lost to the repeated releases");
  t.is(limiter.acquire("key", 3), undefined, "and no more than three");
});

test("a limit lowered below the calls in flight refuses until enough of them ended", (t) => {
  const limiter = createConcurrencyLimiter();
  const slots = [limiter.acquire("key", 3), limiter.acquire("key", 3), limiter.acquire("key", 3)];
  t.is(limiter.acquire("key", 2), undefined);
  slots[0]?.();
  t.is(limiter.acquire("key", 2), undefined, "still two in flight");
  slots[1]?.();
  t.truthy(limiter.acquire("key", 2));
});
