import test from "ava";
import { seededRandom } from "../../../test/support/seeded-random.js";
import { create } from "@bufbuild/protobuf";
import { ChatStreamResponseSchema, type ChatParams } from "../../../gen/iir/inference/v1/inference_pb.js";
import { iterableOf } from "../../common/async-iterables.js";
import { createBackendStats, type BackendLatency } from "./backend-stats.js";
import { breakerKey } from "./circuit-breaker.js";
import { orderByStrategy, type StrategyChoice } from "./strategies.js";

const choice = (key: string, weight = 1, queued = 0, agentInFlight?: number): StrategyChoice => ({ key, weight, queued, ...(agentInFlight === undefined ? {} : { agentInFlight }) });
const keys = (choices: readonly StrategyChoice[]) => choices.map((each) => each.key);

/** Stats as BackendStats reports them, from fixed tables. */
function statsOf(inFlight: Record<string, number>, ttftMs: Record<string, number> = {}) {
  return {
    inFlight: (key: string) => inFlight[key] ?? 0,
    latency: (key: string): BackendLatency | undefined => (key in ttftMs ? { ttftMs: ttftMs[key]!, tokensPerSecond: 0, samples: 5 } : undefined),
  };
}

test("ordered (and the empty strategy) keep the listed order", (t) => {
  const choices = [choice("a"), choice("b"), choice("c")];
  t.deepEqual(keys(orderByStrategy("ordered", choices)), ["a", "b", "c"]);
  t.deepEqual(keys(orderByStrategy("", choices, { stats: statsOf({ a: 9 }) })), ["a", "b", "c"]);
});

test("weighted: first picks follow the weights over many seeded draws, and every choice stays in the list", (t) => {
  const choices = [choice("light", 1), choice("heavy", 3), choice("zero", 0)];
  const random = seededRandom(21);
  const firsts = new Map<string, number>();
  const draws = 10_000;
  for (let index = 0; index < draws; index++) {
    const ordered = orderByStrategy("weighted", choices, { random });
    if (keys(ordered).sort().join() !== "heavy,light,zero") t.fail(`a choice went missing: ${keys(ordered).join()}`);
    firsts.set(ordered[0]!.key, (firsts.get(ordered[0]!.key) ?? 0) + 1);
  }
  // Weights 1 : 3 : 0 (counts as 1) → 20% : 60% : 20%.
  const share = (key: string) => (firsts.get(key) ?? 0) / draws;
  t.true(Math.abs(share("heavy") - 0.6) < 0.03, `heavy first ${share("heavy")}`);
  t.true(Math.abs(share("light") - 0.2) < 0.03, `light first ${share("light")}`);
  t.true(Math.abs(share("zero") - 0.2) < 0.03, `zero first ${share("zero")}`);
});

test("weighted: the second pick is weighted among the rest too", (t) => {
  const choices = [choice("a", 1), choice("b", 8), choice("c", 1)];
  const random = seededRandom(7);
  let bSecondWhenAFirst = 0;
  let aFirst = 0;
  for (let index = 0; index < 5000; index++) {
    const ordered = keys(orderByStrategy("weighted", choices, { random }));
    if (ordered[0] !== "a") continue;
    aFirst += 1;
    if (ordered[1] === "b") bSecondWhenAFirst += 1;
  }
  t.true(aFirst > 100);
  // b holds 8 of the 9 weights left once a is taken.
  t.true(bSecondWhenAFirst / aFirst > 0.8, `${bSecondWhenAFirst}/${aFirst}`);
});

test("least-busy: fewest in flight first, an agent's queue counts, ties keep the listed order", (t) => {
  const choices = [choice("p1"), choice("p2"), choice("agent-a", 1, 4, 0), choice("agent-b", 1, 0, 1)];
  const stats = statsOf({ p1: 3, p2: 0, "agent-b": 1 });
  // p2 0; agent-b max(1, 1) + 0 = 1 (the two counts are the same attempts); p1 3; agent-a 0 + 4 queued.
  t.deepEqual(keys(orderByStrategy("least-busy", choices, { stats })), ["p2", "agent-b", "p1", "agent-a"]);
  t.deepEqual(keys(orderByStrategy("least-busy", [choice("x"), choice("y")], { stats: statsOf({}) })), ["x", "y"]);
});

test("lowest-latency: unmeasured choices first (listed order), then the lowest moving average", (t) => {
  const choices = [choice("slow"), choice("fast"), choice("new-1"), choice("middle"), choice("new-2")];
  const stats = statsOf({}, { slow: 300, fast: 5, middle: 40 });
  t.deepEqual(keys(orderByStrategy("lowest-latency", choices, { stats })), ["new-1", "new-2", "fast", "middle", "slow"]);
  // Without any samples every choice is new: the listed order.
  t.deepEqual(keys(orderByStrategy("lowest-latency", choices, { stats: statsOf({}) })), ["slow", "fast", "new-1", "middle", "new-2"]);
});

test("an unknown strategy keeps the listed order", (t) => {
  t.deepEqual(keys(orderByStrategy("round-robin", [choice("a"), choice("b")])), ["a", "b"]);
});

test("lowest-latency: a backend whose averages went stale is tried again before the fresh ones", (t) => {
  let clock = 0;
  const stats = createBackendStats({ now: () => clock, staleAfterMs: 60_000 });
  const answer = async (backend: string, ttftMs: number) => {
    const target = { backend, provider: "openai", baseUrl: `http://${backend}.invalid/v1`, apiKey: undefined, upstreamModel: "m" };
    const [observed] = stats.observe([{ adapter: { chat: () => Promise.reject(new Error("unused")), chatStream: () => (clock += ttftMs, iterableOf([create(ChatStreamResponseSchema, {})])) }, target }]);
    for await (const _ of observed!.adapter.chatStream({} as ChatParams, target, new AbortController().signal));
    return breakerKey(target);
  };
  return (async () => {
    const slowKey = await answer("once-slow", 5_000);
    const fastKey = await answer("fast", 10);
    const choices = [{ key: fastKey, weight: 1, queued: 0 }, { key: slowKey, weight: 1, queued: 0 }];
    t.deepEqual(keys(orderByStrategy("lowest-latency", choices, { stats })), [fastKey, slowKey]);
    clock += 61_000;
    await answer("fast", 10);
    t.deepEqual(keys(orderByStrategy("lowest-latency", choices, { stats })), [slowKey, fastKey], "the slow spell is measured again");
  })();
});
