import test from "ava";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ChatTarget } from "../adapter.js";
import { createAnthropicStreamState } from "./anthropic-stream-state.js";

const target: ChatTarget = { backend: "anthropic", provider: "anthropic", baseUrl: "https://api.anthropic.com", apiKey: "sk-ant-secret-000000", upstreamModel: "claude" };
const event = (name: string, data: unknown) => ({ event: name, data: JSON.stringify(data) });

test("a tool without parameters streams no input: its call still gets `{}` at the block's end", (t) => {
  const state = createAnthropicStreamState(target);
  state.partsFromEvent(event("message_start", { type: "message_start", message: { model: "claude", usage: { input_tokens: 5, output_tokens: 1 } } }));
  const start = state.partsFromEvent(event("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "tool_use", id: "toolu_1", name: "now", input: {} } }));
  const empty = state.partsFromEvent(event("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: "" } }));
  const stop = state.partsFromEvent(event("content_block_stop", { type: "content_block_stop", index: 0 }));
  t.like(start[0]?.event.value, { id: "toolu_1", name: "now", arguments: "" });
  t.deepEqual(empty, []);
  t.like(stop[0]?.event.value, { index: 0, arguments: "{}" });
});

test("usage from message_start and a message_delta that repeats cache counts is sent once, at message_stop", (t) => {
  const state = createAnthropicStreamState(target);
  state.partsFromEvent(event("message_start", { type: "message_start", message: { model: "claude", usage: { input_tokens: 10, cache_read_input_tokens: 100, cache_creation_input_tokens: 0, output_tokens: 1 } } }));
  const delta = state.partsFromEvent(event("message_delta", { type: "message_delta", delta: { stop_reason: "max_tokens", stop_sequence: null }, usage: { output_tokens: 50, cache_creation_input_tokens: 7 } }));
  t.deepEqual(delta.map((part) => part.event.case), ["finish"]);
  t.false(state.finished);
  const stop = state.partsFromEvent(event("message_stop", { type: "message_stop" }));
  t.true(state.finished);
  t.like(stop[0]?.event.value, { promptTokens: 117, cachedPromptTokens: 100, cacheCreationTokens: 7, completionTokens: 50, totalTokens: 167 });
});

test("unknown events and deltas are ignored; an error event is thrown with its code; bad JSON is Unavailable", (t) => {
  const state = createAnthropicStreamState(target);
  t.deepEqual(state.partsFromEvent(event("future_event", { type: "future_event" })), []);
  t.deepEqual(state.partsFromEvent(event("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "citations_delta", citation: {} } })), []);
  const rate = t.throws(() => state.partsFromEvent(event("error", { type: "error", error: { type: "rate_limit_error", message: "slow down" } })), { instanceOf: ConnectError });
  t.is(rate?.code, Code.ResourceExhausted);
  const bad = t.throws(() => state.partsFromEvent({ event: "message_delta", data: "{" }), { instanceOf: ConnectError });
  t.is(bad?.code, Code.Unavailable);
});
