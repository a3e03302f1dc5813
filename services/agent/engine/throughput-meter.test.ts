import test from "ava";
import { createThroughputMeter } from "./throughput-meter.js";

// A fixed origin well past the epoch, on a second boundary.
const start = 1_700_000_000_000;

test("the rate is the tokens of the window divided by its length", (t) => {
  const meter = createThroughputMeter(10_000);
  t.is(meter.rate(start), 0, "no tokens, no rate");
  meter.add(30, start);
  meter.add(20, start + 400);
  meter.add(50, start + 3_500);
  t.is(meter.rate(start + 4_000), 10);
});

test("tokens older than the window no longer count", (t) => {
  const meter = createThroughputMeter(10_000);
  meter.add(100, start);
  meter.add(40, start + 5_000);
  t.is(meter.rate(start + 9_999), 14, "still inside the window");
  t.is(meter.rate(start + 10_000), 4, "the first second has left the window");
  t.is(meter.rate(start + 15_000), 0, "everything has left the window");
});

test("a bucket reused for a later second starts from zero", (t) => {
  const meter = createThroughputMeter(10_000);
  meter.add(100, start);
  // Ten seconds later the same one-second bucket is used again.
  meter.add(7, start + 10_000);
  t.is(meter.rate(start + 10_000), 0.7);
});

test("a window shorter than a second is one bucket", (t) => {
  const meter = createThroughputMeter(500);
  meter.add(3, start);
  meter.add(4, start + 999);
  t.is(meter.rate(start + 999), 7);
  t.is(meter.rate(start + 1_000), 0);
});

test("without a clock argument the meter uses the current time", (t) => {
  const meter = createThroughputMeter(10_000);
  meter.add(25);
  t.true(meter.rate() > 0);
});
