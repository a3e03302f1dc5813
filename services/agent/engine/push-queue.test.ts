import test from "ava";
import { createPushQueue } from "./push-queue.js";

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

test("items pushed before the consumer starts arrive in order, then the stream ends", async (t) => {
  const queue = createPushQueue<number>();
  queue.push(1);
  queue.push(2);
  queue.push(3);
  queue.end();
  t.deepEqual(await collect(queue), [1, 2, 3]);
});

test("a waiting consumer wakes for items pushed later", async (t) => {
  const queue = createPushQueue<string>();
  const received: string[] = [];
  const consumer = (async () => {
    for await (const item of queue) received.push(item);
  })();
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(received, [], "nothing arrives before anything is pushed");
  queue.push("a");
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(received, ["a"]);
  // Several pushes in one tick, then the end: none is lost.
  queue.push("b");
  queue.push("c");
  queue.end();
  await consumer;
  t.deepEqual(received, ["a", "b", "c"]);
});

test("an ended empty queue yields nothing", async (t) => {
  const queue = createPushQueue<number>();
  queue.end();
  t.deepEqual(await collect(queue), []);
});

test("fail delivers the items already pushed, then throws the error", async (t) => {
  const queue = createPushQueue<number>();
  const received: number[] = [];
  const failure = new Error("decoding broke");
  const consumer = (async () => {
    for await (const item of queue) received.push(item);
  })();
  queue.push(1);
  queue.push(2);
  queue.fail(failure);
  const error = await t.throwsAsync(consumer);
  t.is(error, failure);
  t.deepEqual(received, [1, 2]);
});

test("fail wakes a consumer that is waiting", async (t) => {
  const queue = createPushQueue<number>();
  const consumer = collect(queue);
  await new Promise((resolve) => setImmediate(resolve));
  queue.fail(new Error("gone"));
  await t.throwsAsync(consumer, { message: "gone" });
});

test("batches hand over everything that piled up since the last read, then end or fail", async (t) => {
  const queue = createPushQueue<number>();
  queue.push(1);
  queue.push(2);
  const batches = queue.batches()[Symbol.asyncIterator]();
  t.deepEqual((await batches.next()).value, [1, 2]);
  const waiting = batches.next();
  queue.push(3);
  t.deepEqual((await waiting).value, [3]);
  queue.push(4);
  queue.push(5);
  queue.end();
  t.deepEqual((await batches.next()).value, [4, 5]);
  t.true((await batches.next()).done);

  const failing = createPushQueue<number>();
  failing.push(7);
  failing.fail(new Error("boom"));
  const reader = failing.batches()[Symbol.asyncIterator]();
  t.deepEqual((await reader.next()).value, [7], "what arrived before the failure is delivered");
  await t.throwsAsync(reader.next(), { message: "boom" });
});
