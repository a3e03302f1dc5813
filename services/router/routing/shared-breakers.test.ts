import { randomUUID } from "node:crypto";
import test from "ava";
import { createLogger } from "../../common/logger.js";
import { disposableRedis, requireRedis, sharedRedisUrl } from "../../../test/support/redis-fixtures.js";
import type { BreakerEvent } from "./circuit-breaker.js";
import { createSharedBreakers, type SharedBreakers } from "./shared-breakers.js";

// Breaker state shared through a real Redis: what a replica mirrors, the one probe, and Redis away.

const logger = createLogger({ level: "error", name: "test", write: () => undefined });

/** A replica's share with what it mirrored; closed when the test ends. */
function replica(t: import("ava").ExecutionContext, keyPrefix: string, url = sharedRedisUrl): { share: SharedBreakers; mirrored: BreakerEvent[] } {
  const share = createSharedBreakers({ url, keyPrefix, logger });
  const mirrored: BreakerEvent[] = [];
  share.connect({ mirror: (event) => mirrored.push(event) });
  t.teardown(() => share.close());
  return { share, mirrored };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test("an opening reaches the replicas listening and one started later; a closing reaches them too", async (t) => {
  if (!(await requireRedis(t))) return;
  const prefix = `iir-test:${randomUUID()}:`;
  const first = replica(t, prefix);
  const second = replica(t, prefix);
  await Promise.all([first.share.started, second.share.started]);
  // Give the subscriptions a moment to be in place: the late replica below covers a missed message anyway.
  await new Promise((resolve) => setTimeout(resolve, 200));
  first.share.publish({ kind: "open", backend: "openai:gpt-x@http://a/v1", until: Date.now() + 60_000, cooldownMs: 60_000, reason: "Unavailable" });
  await until(() => second.mirrored.some((event) => event.kind === "open"), "the listening replica to mirror the opening");
  t.deepEqual(first.mirrored, [], "a replica does not mirror its own openings");

  const late = replica(t, prefix);
  await until(() => late.mirrored.some((event) => event.kind === "open"), "the late replica to read the opening from its key");
  const opening = late.mirrored.find((event) => event.kind === "open");
  t.is(opening?.backend, "openai:gpt-x@http://a/v1");
  t.true(opening?.kind === "open" && opening.until > Date.now(), "still open for the rest of the cooldown");

  first.share.publish({ kind: "closed", backend: "openai:gpt-x@http://a/v1" });
  await until(() => second.mirrored.some((event) => event.kind === "closed"), "the closing to reach the other replica");
});

test("one probe at a time across replicas, until the claim is given back", async (t) => {
  if (!(await requireRedis(t))) return;
  const prefix = `iir-test:${randomUUID()}:`;
  const first = replica(t, prefix);
  const second = replica(t, prefix);
  await Promise.all([first.share.started, second.share.started]);
  t.true(await first.share.claimProbe("backend-a", 30_000));
  t.false(await second.share.claimProbe("backend-a", 30_000), "the other replica's probe waits");
  t.true(await second.share.claimProbe("backend-b", 30_000), "claims are per backend");
  first.share.releaseProbe("backend-a");
  let claimed = false;
  const deadline = Date.now() + 15_000;
  while (!claimed && Date.now() < deadline) claimed = await second.share.claimProbe("backend-a", 30_000);
  t.true(claimed, "once released, the claim can be taken");
});

test("with Redis away, every replica probes on its own and nothing throws", async (t) => {
  const redis = await disposableRedis(t);
  // Never started: connections are refused.
  const alone = replica(t, "iir-test:", redis.url);
  await alone.share.started;
  t.true(await alone.share.claimProbe("backend-a", 1000));
  t.true(await alone.share.claimProbe("backend-a", 1000), "no shared claim to wait on");
  t.notThrows(() => alone.share.publish({ kind: "open", backend: "backend-a", until: Date.now() + 1000, cooldownMs: 1000, reason: "x" }));
});
