import test from "ava";
import { Code, ConnectError } from "@connectrpc/connect";
import { createSequenceSlots } from "./sequence-slots.js";

type Release = () => void;

/** A promise whose outcome the test can read without awaiting it. */
function track(promise: Promise<Release>) {
  const state: { status: "pending" | "granted" | "rejected"; release?: Release; error?: unknown } = { status: "pending" };
  promise.then(
    (release) => {
      state.status = "granted";
      state.release = release;
    },
    (error: unknown) => {
      state.status = "rejected";
      state.error = error;
    },
  );
  return state;
}

/** Lets every settled promise run its callbacks. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

const never = () => new AbortController().signal;

test("at most `parallel` requests hold a slot; the rest wait", async (t) => {
  const slots = createSequenceSlots(2, 5);
  const first = track(slots.acquire(never()));
  const second = track(slots.acquire(never()));
  const third = track(slots.acquire(never()));
  await flush();
  t.is(first.status, "granted");
  t.is(second.status, "granted");
  t.is(third.status, "pending");
  t.is(slots.active, 2);
  t.is(slots.queued, 1);

  first.release!();
  await flush();
  t.is(third.status, "granted", "a released slot goes to the waiter");
  t.is(slots.active, 2);
  t.is(slots.queued, 0);

  second.release!();
  third.release!();
  t.is(slots.active, 0);
  t.is(slots.queued, 0);
});

test("waiters get slots in the order they arrived", async (t) => {
  const slots = createSequenceSlots(1, 3);
  const holder = track(slots.acquire(never()));
  const waiters = [track(slots.acquire(never())), track(slots.acquire(never())), track(slots.acquire(never()))];
  await flush();
  t.is(slots.queued, 3);

  const order: number[] = [];
  let current = holder;
  for (let round = 0; round < waiters.length; round++) {
    current.release!();
    await flush();
    const granted = waiters.map((waiter, index) => (waiter.status === "granted" && !order.includes(index) ? index : -1)).filter((index) => index >= 0);
    t.is(granted.length, 1, "one release grants exactly one waiter");
    order.push(granted[0]!);
    current = waiters[granted[0]!]!;
    t.is(slots.active, 1);
  }
  t.deepEqual(order, [0, 1, 2]);
  current.release!();
  t.is(slots.active, 0);
});

test("a full queue answers ResourceExhausted with retry-after, and changes nothing", async (t) => {
  const slots = createSequenceSlots(1, 1);
  const holder = track(slots.acquire(never()));
  const waiter = track(slots.acquire(never()));
  const error = await t.throwsAsync(slots.acquire(never()), { instanceOf: ConnectError });
  t.is(error?.code, Code.ResourceExhausted);
  t.is(error?.metadata.get("retry-after"), "1");
  t.regex(error?.message ?? "", /busy/);
  t.is(slots.active, 1);
  t.is(slots.queued, 1);

  await flush();
  holder.release!();
  await flush();
  t.is(waiter.status, "granted", "the rejected request did not disturb the queue");
  waiter.release!();
  t.is(slots.active, 0);
});

test("with no queue, the request after the parallel ones is refused at once", async (t) => {
  const slots = createSequenceSlots(2, 0);
  const releases = [await slots.acquire(never()), await slots.acquire(never())];
  const error = await t.throwsAsync(slots.acquire(never()), { instanceOf: ConnectError });
  t.is(error?.code, Code.ResourceExhausted);
  for (const release of releases) release();
  t.is(slots.active, 0);
  const again = await slots.acquire(never());
  t.is(slots.active, 1, "a freed slot can be taken again");
  again();
});

test("an aborted waiter leaves the queue and never takes a slot", async (t) => {
  const slots = createSequenceSlots(1, 2);
  const holder = track(slots.acquire(never()));
  const abort = new AbortController();
  const aborted = track(slots.acquire(abort.signal));
  const patient = track(slots.acquire(never()));
  await flush();
  t.is(slots.queued, 2);

  abort.abort();
  await flush();
  t.is(aborted.status, "rejected");
  t.true(aborted.error instanceof ConnectError);
  t.is((aborted.error as ConnectError).code, Code.Canceled);
  t.is(slots.queued, 1, "the aborted waiter left the queue");

  // Its place in the queue is free again.
  const late = track(slots.acquire(never()));
  await flush();
  t.is(late.status, "pending");
  t.is(slots.queued, 2);

  holder.release!();
  await flush();
  t.is(patient.status, "granted", "the slot skipped the aborted waiter");
  t.is(slots.active, 1);
  patient.release!();
  await flush();
  t.is(late.status, "granted");
  late.release!();
  t.is(slots.active, 0);
  t.is(slots.queued, 0);
});

test("an already aborted signal is refused even when a slot is free", async (t) => {
  const slots = createSequenceSlots(1, 1);
  const abort = new AbortController();
  abort.abort();
  const error = await t.throwsAsync(slots.acquire(abort.signal), { instanceOf: ConnectError });
  t.is(error?.code, Code.Canceled);
  t.is(slots.active, 0);
  t.is(slots.queued, 0);
});

test("aborting after the slot was granted changes nothing", async (t) => {
  const slots = createSequenceSlots(1, 1);
  const holder = await slots.acquire(never());
  const abort = new AbortController();
  const waiter = track(slots.acquire(abort.signal));
  holder();
  await flush();
  t.is(waiter.status, "granted");
  abort.abort();
  await flush();
  t.is(slots.active, 1, "the granted request still holds its slot");
  t.is(slots.queued, 0);
  waiter.release!();
  t.is(slots.active, 0);
});

test("releasing twice frees one slot only", async (t) => {
  const slots = createSequenceSlots(2, 2);
  const first = await slots.acquire(never());
  const second = await slots.acquire(never());
  first();
  first();
  t.is(slots.active, 1, "the second release of the same grant is ignored");

  const third = await slots.acquire(never());
  const waiters = [track(slots.acquire(never())), track(slots.acquire(never()))];
  await flush();
  second();
  second();
  await flush();
  t.deepEqual(
    waiters.map((waiter) => waiter.status),
    ["granted", "pending"],
    "a double release does not hand out two slots",
  );
  t.is(slots.active, 2);
  t.is(slots.queued, 1);

  third();
  await flush();
  waiters[0]!.release!();
  waiters[1]!.release!();
  t.is(slots.active, 0);
  t.is(slots.queued, 0);
});
