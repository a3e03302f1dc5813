import test from "ava";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ChatResponseSchema, type ChatParams, type ChatResponse, type ChatStreamResponse } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatAdapter, ChatTarget } from "../adapters/adapter.js";
import { BreakerState, breakerKey, createCircuitBreakers, parseRetryAfter, type BreakerTransition } from "./circuit-breaker.js";
import type { RouteCandidate } from "./resolve-route.js";

const target: ChatTarget = { backend: "openai", provider: "openai", baseUrl: "https://user:secret@api.example.com/v1", apiKey: "sk-x", upstreamModel: "gpt-x" };
const params = {} as ChatParams;

/** An adapter whose next answers are scripted: an error to throw, or undefined for a success. */
function scriptedAdapter() {
  const outcomes: (Error | undefined)[] = [];
  let calls = 0;
  const adapter: ChatAdapter = {
    async chat(): Promise<ChatResponse> {
      calls += 1;
      const next = outcomes.shift();
      if (next !== undefined) throw next;
      return create(ChatResponseSchema, {});
    },
    async *chatStream(): AsyncGenerator<ChatStreamResponse> {
      calls += 1;
      const next = outcomes.shift();
      if (next !== undefined) throw next;
    },
  };
  return { adapter, outcomes, calls: () => calls };
}

function setUp(settings = { failures: 3, cooldownMs: 1000, maxCooldownMs: 4000 }) {
  let clock = 1_000_000;
  const transitions: BreakerTransition[] = [];
  const breakers = createCircuitBreakers({ settings, now: () => clock, onTransition: (transition) => transitions.push(transition) });
  const upstream = scriptedAdapter();
  const candidates: RouteCandidate[] = [{ adapter: upstream.adapter, target }];
  const call = async () => {
    const [guarded] = breakers.guard(candidates, new AbortController().signal);
    return guarded!.adapter.chat(params, target, new AbortController().signal);
  };
  const state = () => breakers.states().get(breakerKey(target)) ?? BreakerState.closed;
  return { breakers, upstream, call, state, transitions, advance: (ms: number) => (clock += ms) };
}

const unavailable = () => new ConnectError("upstream 500", Code.Unavailable);

test("the key names provider, model and base URL without credentials", (t) => {
  t.is(breakerKey(target), "openai:gpt-x@https://***@api.example.com/v1");
  t.is(breakerKey({ ...target, provider: "local", backend: "agent-1" }), "agent:agent-1");
});

test("N consecutive failures open the breaker; calls are refused without reaching the backend", async (t) => {
  const { upstream, call, state, transitions } = setUp();
  upstream.outcomes.push(unavailable(), unavailable(), unavailable());
  for (let index = 0; index < 3; index++) await t.throwsAsync(call());
  t.is(state(), BreakerState.open);
  const refused = await t.throwsAsync(call());
  t.is(ConnectError.from(refused).code, Code.Unavailable);
  t.regex(refused!.message, /circuit breaker.*open until \d{4}-/);
  t.notRegex(refused!.message, /secret/);
  t.is(upstream.calls(), 3, "the open breaker kept the call from the backend");
  t.deepEqual(transitions.map((entry) => entry.to), [BreakerState.open]);
});

test("a success between failures resets the count", async (t) => {
  const { upstream, call, state } = setUp();
  upstream.outcomes.push(unavailable(), unavailable(), undefined, unavailable(), unavailable());
  for (let index = 0; index < 5; index++) await call().catch(() => undefined);
  t.is(state(), BreakerState.closed);
});

test("client errors and cancellations do not count as failures", async (t) => {
  const { upstream, call, state } = setUp();
  for (let index = 0; index < 5; index++) upstream.outcomes.push(new ConnectError("bad", Code.InvalidArgument), new ConnectError("gone", Code.Canceled));
  for (let index = 0; index < 10; index++) await call().catch(() => undefined);
  t.is(state(), BreakerState.closed);
  t.is(upstream.calls(), 10);
});

test("after the cooldown one probe goes through at a time; its failure doubles the cooldown, its success closes", async (t) => {
  const { upstream, call, state, advance, transitions } = setUp();
  upstream.outcomes.push(unavailable(), unavailable(), unavailable());
  for (let index = 0; index < 3; index++) await t.throwsAsync(call());
  advance(1000);
  upstream.outcomes.push(unavailable());
  await t.throwsAsync(call());
  t.is(upstream.calls(), 4, "one probe reached the backend");
  t.is(state(), BreakerState.open);
  advance(1999);
  await t.throwsAsync(call());
  t.is(upstream.calls(), 4, "the second cooldown is twice the first");
  advance(1);
  // Two calls at once: one probe, the other is refused while it runs.
  let release: () => void = () => undefined;
  upstream.adapter.chat = async () => {
    await new Promise<void>((resolve) => (release = resolve));
    return create(ChatResponseSchema, {});
  };
  const probe = call();
  const second = await t.throwsAsync(call());
  t.regex(second!.message, /probe/);
  release();
  await probe;
  t.is(state(), BreakerState.closed);
  t.deepEqual(transitions.map((entry) => entry.to), [BreakerState.open, BreakerState.halfOpen, BreakerState.open, BreakerState.halfOpen, BreakerState.closed]);
});

test("the cooldown stops doubling at the maximum", async (t) => {
  const { upstream, call, advance, transitions } = setUp({ failures: 1, cooldownMs: 1000, maxCooldownMs: 2500 });
  for (let index = 0; index < 4; index++) {
    upstream.outcomes.push(unavailable());
    await t.throwsAsync(call());
    advance(10_000);
  }
  const opened = transitions.filter((entry) => entry.to === BreakerState.open);
  const at = 1_000_000;
  t.deepEqual(opened.map((entry, index) => entry.until! - (at + index * 10_000)), [1000, 2000, 2500, 2500]);
});

test("a 429 with retry-after opens the breaker for that long, at once", async (t) => {
  const { upstream, call, state, advance } = setUp();
  const limited = new ConnectError("rate limited", Code.ResourceExhausted);
  limited.metadata.set("retry-after", "2");
  upstream.outcomes.push(limited);
  await t.throwsAsync(call());
  t.is(state(), BreakerState.open);
  advance(1999);
  await t.throwsAsync(call());
  t.is(upstream.calls(), 1);
  advance(1);
  await call();
  t.is(upstream.calls(), 2);
  t.is(state(), BreakerState.closed);
});

test("when every candidate is open the error names each backend and until when", async (t) => {
  const { breakers, upstream, call } = setUp({ failures: 1, cooldownMs: 1000, maxCooldownMs: 1000 });
  upstream.outcomes.push(unavailable());
  await t.throwsAsync(call());
  const other: ChatTarget = { ...target, baseUrl: "http://other.example/v1" };
  const spare = scriptedAdapter();
  spare.outcomes.push(unavailable());
  const [, guardedSpare] = breakers.guard([{ adapter: upstream.adapter, target }, { adapter: spare.adapter, target: other }], new AbortController().signal);
  await t.throwsAsync(guardedSpare!.adapter.chat(params, other, new AbortController().signal));
  const guarded = breakers.guard([{ adapter: upstream.adapter, target }, { adapter: spare.adapter, target: other }], new AbortController().signal);
  await t.throwsAsync(guarded[0]!.adapter.chat(params, target, new AbortController().signal));
  const last = await t.throwsAsync(guarded[1]!.adapter.chat(params, other, new AbortController().signal));
  t.regex(last!.message, /every backend/);
  t.regex(last!.message, /api\.example\.com.*other\.example/);
});

test("a stream counts as a success at its first part", async (t) => {
  const { breakers, upstream, state } = setUp({ failures: 1, cooldownMs: 1000, maxCooldownMs: 1000 });
  upstream.outcomes.push(unavailable());
  const [guarded] = breakers.guard([{ adapter: upstream.adapter, target }], new AbortController().signal);
  await t.throwsAsync(async () => {
    for await (const part of guarded!.adapter.chatStream(params, target, new AbortController().signal)) void part;
  });
  t.is(state(), BreakerState.open);
});

test("retry-after is read as seconds or an HTTP date", (t) => {
  t.is(parseRetryAfter("2"), 2000);
  t.is(parseRetryAfter(null), undefined);
  t.is(parseRetryAfter("soon"), undefined);
  t.is(parseRetryAfter(new Date(10_000).toUTCString(), 4000), 6000);
});

test("a failure rate over the window opens the breaker even without N failures in a row", async (t) => {
  const { upstream, call, state, transitions } = setUp({ failures: 100, cooldownMs: 1000, maxCooldownMs: 4000, failureRatePercent: 50, failureRateMinimum: 6, failureRateWindowMs: 10_000 } as never);
  // Alternating failure and success: never two failures in a row, but half of all attempts fail.
  for (let index = 0; index < 3; index++) {
    upstream.outcomes.push(unavailable(), undefined);
    await t.throwsAsync(call());
    await call();
  }
  t.is(state(), BreakerState.closed, "only a failure opens a breaker");
  upstream.outcomes.push(unavailable());
  await t.throwsAsync(call());
  t.is(state(), BreakerState.open);
  t.regex(transitions.at(-1)!.reason, /failure rate/);
});

test("openings and closings are published to the share; another replica's are mirrored without being published again", async (t) => {
  const published: unknown[] = [];
  let clock = 1_000_000;
  const breakers = createCircuitBreakers({
    settings: { failures: 1, cooldownMs: 1000, maxCooldownMs: 4000 },
    now: () => clock,
    share: { publish: (event) => published.push(event), claimProbe: async () => false, releaseProbe: () => undefined },
  });
  const upstream = scriptedAdapter();
  const call = () => breakers.guard([{ adapter: upstream.adapter, target }], new AbortController().signal)[0]!.adapter.chat(params, target, new AbortController().signal);
  upstream.outcomes.push(unavailable());
  await t.throwsAsync(call());
  t.like(published[0], { kind: "open", backend: breakerKey(target), until: clock + 1000 });

  // Another replica holds the probe claim: this one refuses after the cooldown instead of probing.
  clock += 1001;
  const refused = await t.throwsAsync(call());
  t.regex(refused!.message, /another router replica/);
  t.is(upstream.calls(), 1);

  const other = { ...target, upstreamModel: "other" };
  breakers.mirror({ kind: "open", backend: breakerKey(other), until: clock + 500, cooldownMs: 2000, reason: "Unavailable" });
  t.is(breakers.states().get(breakerKey(other)), BreakerState.open);
  breakers.mirror({ kind: "closed", backend: breakerKey(other) });
  t.is(breakers.states().get(breakerKey(other)), BreakerState.closed);
  t.is(published.length, 1, "mirrored events are not published again");
});
