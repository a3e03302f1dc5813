import test from "ava";
import { create } from "@bufbuild/protobuf";
import { ChatResponseSchema, FinishReason, Role, UsageSchema } from "../../../gen/iir/inference/v1/inference_pb.js";
import { anthropicMessageFromResponse, usageToAnthropic } from "./convert-to-anthropic-response.js";
import { stopReasonToAnthropic } from "./map-anthropic-stop-reason.js";

test("a text answer becomes a message with end_turn and usage net of the prompt cache", (t) => {
  const response = create(ChatResponseSchema, {
    id: "chatcmpl-1",
    model: "gpt-x",
    choices: [{ index: 0, message: { role: Role.ASSISTANT, content: { case: "text", value: "hello" } }, finishReason: FinishReason.STOP }],
    usage: { promptTokens: 100, completionTokens: 7, totalTokens: 107, cachedPromptTokens: 60, cacheCreationTokens: 30 },
  });
  const message = anthropicMessageFromResponse(response, "msg_abc", "asked");
  t.like(message, { id: "msg_abc", type: "message", role: "assistant", model: "gpt-x", stop_reason: "end_turn", stop_sequence: null });
  t.deepEqual(message.content, [{ type: "text", text: "hello" }]);
  t.deepEqual(message.usage, { input_tokens: 10, output_tokens: 7, cache_read_input_tokens: 60, cache_creation_input_tokens: 30 });
});

test("thinking, text and tool calls come out as blocks in Anthropic's order; the stop is tool_use", (t) => {
  const response = create(ChatResponseSchema, {
    id: "msg_upstream",
    choices: [
      {
        index: 0,
        message: {
          role: Role.ASSISTANT,
          content: { case: "text", value: "Let me look." },
          reasoning: [{ text: "hmm", signature: "sig" }, { redactedData: "xyz" }],
          toolCalls: [
            { id: "toolu_9", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
            { id: "", type: "function", function: { name: "broken", arguments: "{not json" } },
          ],
        },
        // Gemini says STOP for an answer that calls tools.
        finishReason: FinishReason.STOP,
      },
    ],
  });
  const message = anthropicMessageFromResponse(response, "msg_new", "asked");
  t.is(message.id, "msg_upstream", "an Anthropic upstream's id is kept");
  t.is(message.model, "asked");
  t.is(message.stop_reason, "tool_use");
  t.deepEqual(message.content.slice(0, 4), [
    { type: "thinking", thinking: "hmm", signature: "sig" },
    { type: "redacted_thinking", data: "xyz" },
    { type: "text", text: "Let me look." },
    { type: "tool_use", id: "toolu_9", name: "get_weather", input: { city: "Paris" } },
  ]);
  const broken = message.content[4];
  t.is(broken?.type, "tool_use");
  t.deepEqual(broken?.type === "tool_use" ? broken.input : undefined, {});
  t.regex(broken?.type === "tool_use" ? broken.id : "", /^toolu_/);
});

test("stop reasons: finish reasons, a named stop sequence, and an Anthropic upstream's own reason", (t) => {
  const facts = { reason: FinishReason.STOP, rawReason: "", stopSequence: "", hasToolCalls: false };
  t.is(stopReasonToAnthropic(facts), "end_turn");
  t.is(stopReasonToAnthropic({ ...facts, stopSequence: "END" }), "stop_sequence");
  t.is(stopReasonToAnthropic({ ...facts, reason: FinishReason.LENGTH }), "max_tokens");
  t.is(stopReasonToAnthropic({ ...facts, reason: FinishReason.TOOL_CALLS }), "tool_use");
  t.is(stopReasonToAnthropic({ ...facts, reason: FinishReason.CONTENT_FILTER }), "refusal");
  t.is(stopReasonToAnthropic({ ...facts, rawReason: "pause_turn" }), "pause_turn");
  t.is(stopReasonToAnthropic({ ...facts, rawReason: "SAFETY" }), "end_turn", "a reason Anthropic does not have is not passed on");
  t.is(stopReasonToAnthropic({ ...facts, reason: FinishReason.UNSPECIFIED }), "end_turn");
});

test("a stop sequence the backend named is reported with stop_sequence", (t) => {
  const response = create(ChatResponseSchema, {
    choices: [{ index: 0, message: { role: Role.ASSISTANT, content: { case: "text", value: "a" } }, finishReason: FinishReason.STOP, stopSequence: "END" }],
  });
  const message = anthropicMessageFromResponse(response, "msg_1", "m");
  t.is(message.stop_reason, "stop_sequence");
  t.is(message.stop_sequence, "END");
});

test("usage never goes negative and is all zeros when unknown", (t) => {
  t.is(usageToAnthropic(create(UsageSchema, { promptTokens: 5, cachedPromptTokens: 9 })).input_tokens, 0);
  t.deepEqual(usageToAnthropic(undefined), { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 });
});
