import test from "ava";
import { create } from "@bufbuild/protobuf";
import { AgentLoadSchema, type AgentLoad } from "../../../gen/iir/heartbeat/v1/heartbeat_pb.js";
import { AgentSchema, type Agent } from "../../../gen/iir/registry/v1/registry_pb.js";
import { createAgentDirectory } from "./agent-directory.js";

const staleAfterMs = 1_000;
const start = 1_700_000_000_000;

function agent(id: string, options: { models?: string[]; seenAt?: number; queue?: number } = {}): Agent {
  return create(AgentSchema, {
    id,
    address: `http://127.0.0.1:5006${id.length}/${id}`,
    models: options.models ?? ["tiny"],
    registeredAt: BigInt(options.seenAt ?? start),
    lastSeenAt: BigInt(options.seenAt ?? start),
    ...(options.queue !== undefined ? { load: load(options.queue) } : {}),
  });
}

const load = (queueLength: number, activeSequences = 0): AgentLoad => create(AgentLoadSchema, { queueLength, activeSequences, tokensPerSecond: 10 });

/** A directory on a clock the test moves by hand. */
function directoryAt(now = start) {
  const clock = { now };
  const directory = createAgentDirectory({ staleAfterMs, now: () => clock.now });
  return { directory, clock };
}

const ids = (agents: readonly { id: string }[]) => agents.map((entry) => entry.id);

test("liveFor lists the agents serving a model, least loaded first", (t) => {
  const { directory } = directoryAt();
  directory.upsert(agent("busy", { queue: 5 }));
  directory.upsert(agent("idle", { queue: 0 }));
  directory.upsert(agent("some", { queue: 2 }));
  directory.upsert(agent("other-model", { models: ["big"], queue: 0 }));
  t.deepEqual(ids(directory.liveFor("tiny")), ["idle", "some", "busy"]);
  t.deepEqual(ids(directory.liveFor("big")), ["other-model"]);
  t.deepEqual(directory.liveFor("absent"), []);
  const idle = directory.liveFor("tiny")[0]!;
  t.is(idle.address, agent("idle").address);
  t.deepEqual(idle.models, ["tiny"]);
  t.is(idle.lastSeenAt, start);
  t.is(idle.inFlight, 0);
});

test("requests in flight from this router count like queued ones", (t) => {
  const { directory } = directoryAt();
  directory.upsert(agent("a", { queue: 1 }));
  directory.upsert(agent("b", { queue: 2 }));
  t.deepEqual(ids(directory.liveFor("tiny")), ["a", "b"]);
  const ends = [directory.begin("a"), directory.begin("a")];
  t.is(directory.liveFor("tiny").find((entry) => entry.id === "a")?.inFlight, 2);
  t.deepEqual(ids(directory.liveFor("tiny")), ["b", "a"], "a: 1 queued + 2 in flight is more than b's 2");
  ends[0]!();
  // a: 1 + 1 ties with b: 2 + 0; a tie goes to the agent heard from most recently.
  directory.beat("b", load(2), start + 10);
  t.deepEqual(ids(directory.liveFor("tiny")), ["b", "a"]);
  directory.beat("a", load(1), start + 20);
  t.deepEqual(ids(directory.liveFor("tiny")), ["a", "b"]);
  ends[1]!();
  t.is(directory.liveFor("tiny").find((entry) => entry.id === "a")?.inFlight, 0);
});

test("an agent without a reported load counts as an empty queue", (t) => {
  const { directory } = directoryAt();
  directory.upsert(agent("loaded", { queue: 1 }));
  directory.upsert(agent("fresh"));
  t.deepEqual(ids(directory.liveFor("tiny")), ["fresh", "loaded"]);
});

test("equal load and equal age are ordered by id, whatever the registration order", (t) => {
  const { directory } = directoryAt();
  for (const id of ["c", "a", "b"]) directory.upsert(agent(id, { queue: 1 }));
  t.deepEqual(ids(directory.liveFor("tiny")), ["a", "b", "c"]);
});

test("a beat updates the load and the order follows it", (t) => {
  const { directory } = directoryAt();
  directory.upsert(agent("a", { queue: 0 }));
  directory.upsert(agent("b", { queue: 3 }));
  t.deepEqual(ids(directory.liveFor("tiny")), ["a", "b"]);
  t.true(directory.beat("a", load(9), start + 100));
  t.true(directory.beat("b", load(0), start + 100));
  t.deepEqual(ids(directory.liveFor("tiny")), ["b", "a"]);
  t.is(directory.liveFor("tiny")[0]!.load?.queueLength, 0);
  t.is(directory.liveFor("tiny")[0]!.lastSeenAt, start + 100);
});

test("an agent silent for longer than staleAfterMs gets no traffic until it beats again", (t) => {
  const { directory, clock } = directoryAt();
  directory.upsert(agent("a"));
  clock.now = start + staleAfterMs;
  t.false(directory.isStale("a"), "exactly staleAfterMs is still live");
  t.deepEqual(ids(directory.liveFor("tiny")), ["a"]);
  clock.now = start + staleAfterMs + 1;
  t.true(directory.isStale("a"));
  t.deepEqual(directory.liveFor("tiny"), []);
  t.true(directory.knows("tiny"), "a stale agent's model is still known");

  t.true(directory.beat("a", load(0), clock.now));
  t.false(directory.isStale("a"));
  t.deepEqual(ids(directory.liveFor("tiny")), ["a"]);
});

test("an explicit `now` overrides the clock", (t) => {
  const { directory } = directoryAt();
  directory.upsert(agent("a"));
  t.deepEqual(ids(directory.liveFor("tiny", start + 500)), ["a"]);
  t.deepEqual(directory.liveFor("tiny", start + 5_000), []);
  t.true(directory.isStale("a", start + 5_000));
  t.false(directory.isStale("a", start + 500));
  t.is(directory.liveModels(start + 5_000).size, 0);
});

test("a beat for an unknown agent returns false and adds nothing", (t) => {
  const { directory } = directoryAt();
  t.false(directory.beat("ghost", load(0), start));
  t.deepEqual(directory.liveFor("tiny"), []);
  t.is(directory.liveModels().size, 0);
  t.true(directory.isStale("ghost"), "an unknown agent is never live");
});

test("liveModels lists the models of live agents only", (t) => {
  const { directory, clock } = directoryAt();
  directory.upsert(agent("old", { models: ["tiny", "legacy"], seenAt: start - 2 * staleAfterMs }));
  directory.upsert(agent("a", { models: ["tiny", "big"] }));
  directory.upsert(agent("b", { models: ["tiny"] }));
  const models = directory.liveModels();
  t.deepEqual([...models.keys()].sort(), ["big", "tiny"]);
  t.deepEqual(ids(models.get("tiny")!).sort(), ["a", "b"]);
  t.deepEqual(ids(models.get("big")!), ["a"]);
  t.false(models.has("legacy"), "a model served only by a stale agent is not live");

  clock.now = start + staleAfterMs + 1;
  t.is(directory.liveModels().size, 0);
});

test("knows remembers every model ever served, even after the agent left", (t) => {
  const { directory } = directoryAt();
  t.false(directory.knows("tiny"));
  directory.upsert(agent("a", { models: ["tiny"] }));
  t.true(directory.knows("tiny"));
  t.false(directory.knows("big"));
  directory.remove("a");
  t.deepEqual(directory.liveFor("tiny"), []);
  t.true(directory.isStale("a"));
  t.true(directory.knows("tiny"));
});

test("ending a request twice counts it once; begin on an unknown agent is harmless", (t) => {
  const { directory } = directoryAt();
  directory.upsert(agent("a"));
  const first = directory.begin("a");
  const second = directory.begin("a");
  first();
  first();
  t.is(directory.liveFor("tiny")[0]!.inFlight, 1, "the second end of the same request is ignored");
  second();
  t.is(directory.liveFor("tiny")[0]!.inFlight, 0);

  const end = directory.begin("ghost");
  t.notThrows(end);
  t.deepEqual(directory.liveFor("tiny").map((entry) => entry.inFlight), [0]);
});

test("requests in flight keep counting across a re-registration and end normally", (t) => {
  const { directory } = directoryAt();
  directory.upsert(agent("a"));
  const end = directory.begin("a");
  // The agent restarts and registers again under the same id while the request is still running.
  directory.upsert(agent("a", { models: ["tiny", "big"], seenAt: start + 50 }));
  t.is(directory.liveFor("tiny")[0]!.inFlight, 1);
  t.deepEqual(directory.liveFor("big")[0]!.models, ["tiny", "big"]);
  end();
  t.is(directory.liveFor("tiny")[0]!.inFlight, 0, "the request that ended no longer counts");
});

test("snapshots do not change when the directory does", (t) => {
  const { directory } = directoryAt();
  directory.upsert(agent("a", { queue: 1 }));
  const before = directory.liveFor("tiny")[0]!;
  const end = directory.begin("a");
  directory.beat("a", load(4), start + 10);
  t.is(before.inFlight, 0);
  t.is(before.load?.queueLength, 1);
  t.is(before.lastSeenAt, start);
  end();
});

test("an agent marked suspect gets no traffic until it is heard from again", (t) => {
  let now = 1000;
  const directory = createAgentDirectory({ staleAfterMs: 10_000, now: () => now });
  directory.upsert(create(AgentSchema, { id: "a", address: "http://a", models: ["m"], lastSeenAt: 1000n }));
  directory.upsert(create(AgentSchema, { id: "b", address: "http://b", models: ["m"], lastSeenAt: 1000n }));
  t.true(directory.markSuspect("a"));
  t.deepEqual(directory.liveFor("m").map((agent) => agent.id), ["b"]);
  t.false(directory.markSuspect("nobody"));
  now = 1500;
  directory.beat("a", undefined, now);
  t.deepEqual(directory.liveFor("m").map((agent) => agent.id).sort(), ["a", "b"]);
});
