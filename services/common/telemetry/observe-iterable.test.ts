import test from "ava";
import { observeIterable } from "./observe-iterable.js";

function recorder() {
  const events: string[] = [];
  return {
    events,
    observer: {
      value: (value: number) => void events.push(`value ${value}`),
      done: () => void events.push("done"),
      failed: (error: unknown) => {
        events.push(`failed ${(error as Error).message}`);
        return new Error(`wrapped ${(error as Error).message}`);
      },
      end: () => void events.push("end"),
    },
  };
}

test("values pass through unchanged, then done and end, once each", async (t) => {
  const { events, observer } = recorder();
  async function* source() {
    yield 1;
    yield 2;
  }
  const seen: number[] = [];
  for await (const value of observeIterable(source(), observer)) seen.push(value);
  t.deepEqual(seen, [1, 2]);
  t.deepEqual(events, ["value 1", "value 2", "done", "end"]);
});

test("a failure reaches the consumer as the error `failed` returns, and end still runs", async (t) => {
  const { events, observer } = recorder();
  async function* source() {
    yield 1;
    throw new Error("boom");
  }
  const error = await t.throwsAsync(async () => {
    for await (const value of observeIterable(source(), observer)) void value;
  });
  t.is(error?.message, "wrapped boom");
  t.deepEqual(events, ["value 1", "failed boom", "end"]);
});

test("a consumer that stops early closes the source and ends the observation without done", async (t) => {
  const { events, observer } = recorder();
  let closed = false;
  async function* source() {
    try {
      yield 1;
      yield 2;
    } finally {
      closed = true;
    }
  }
  for await (const value of observeIterable(source(), observer)) if (value === 1) break;
  t.true(closed);
  t.deepEqual(events, ["value 1", "end"]);
});
