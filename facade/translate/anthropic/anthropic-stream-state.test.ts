import test from "ava";
import { create } from "@bufbuild/protobuf";
import { ChatStreamResponseSchema, FinishReason, type ChatStreamResponse } from "../../../gen/iir/inference/v1/inference_pb.js";
import { AnthropicStreamState } from "./anthropic-stream-state.js";

function part(event: ChatStreamResponse["event"], choiceIndex = 0): ChatStreamResponse {
  return create(ChatStreamResponseSchema, { event, choiceIndex });
}

/** The events of an SSE text as `[event name, parsed data]`, checking each `event:` line names its data's type. */
function events(text: string): [string, Record<string, unknown>][] {
  return text
    .split("\n\n")
    .filter((chunk) => chunk !== "")
    .map((chunk) => {
      const [eventLine, dataLine, ...rest] = chunk.split("\n");
      if (rest.length > 0 || !eventLine?.startsWith("event: ") || !dataLine?.startsWith("data: ")) throw new Error(`not one event: ${chunk}`);
      const name = eventLine.slice("event: ".length);
      const data = JSON.parse(dataLine.slice("data: ".length)) as Record<string, unknown>;
      if (data.type !== name) throw new Error(`event ${name} carries type ${String(data.type)}`);
      return [name, data];
    });
}

test("text, then a tool call in pieces, then usage and finish: Anthropic's events block by block", (t) => {
  const state = new AnthropicStreamState("msg_1", "m");
  let text = state.start();
  text += state.add(part({ case: "text", value: { $typeName: "iir.inference.v1.TextDelta", text: "Hel" } }));
  text += state.add(part({ case: "text", value: { $typeName: "iir.inference.v1.TextDelta", text: "lo" } }));
  text += state.add(part({ case: "toolCall", value: { $typeName: "iir.inference.v1.ToolCallDelta", index: 0, id: "call_1", type: "function", name: "f", arguments: "" } }));
  text += state.add(part({ case: "toolCall", value: { $typeName: "iir.inference.v1.ToolCallDelta", index: 0, id: "", type: "", name: "", arguments: '{"a":' } }));
  text += state.add(part({ case: "toolCall", value: { $typeName: "iir.inference.v1.ToolCallDelta", index: 0, id: "", type: "", name: "", arguments: "1}" } }));
  text += state.add(part({ case: "toolCall", value: { $typeName: "iir.inference.v1.ToolCallDelta", index: 1, id: "call_2", type: "function", name: "g", arguments: "{}" } }));
  text += state.add(part({ case: "text", value: { $typeName: "iir.inference.v1.TextDelta", text: "ignored" } }, 1));
  text += state.add(part({ case: "finish", value: { $typeName: "iir.inference.v1.Finish", reason: FinishReason.TOOL_CALLS, rawReason: "", stopSequence: "" } }));
  text += state.add(
    part({
      case: "usage",
      value: { $typeName: "iir.inference.v1.Usage", promptTokens: 20, completionTokens: 5, totalTokens: 25, cachedPromptTokens: 4, reasoningTokens: 0, cacheCreationTokens: 0 },
    }),
  );
  text += state.finish();
  const seen = events(text);
  t.deepEqual(
    seen.map(([name, data]) => (name === "content_block_delta" ? `${name}:${String((data.delta as { type: string }).type)}@${String(data.index)}` : name.startsWith("content_block") ? `${name}@${String(data.index)}` : name)),
    [
      "message_start",
      "ping",
      "content_block_start@0",
      "content_block_delta:text_delta@0",
      "content_block_delta:text_delta@0",
      "content_block_stop@0",
      "content_block_start@1",
      "content_block_delta:input_json_delta@1",
      "content_block_delta:input_json_delta@1",
      "content_block_stop@1",
      "content_block_start@2",
      "content_block_delta:input_json_delta@2",
      "content_block_stop@2",
      "message_delta",
      "message_stop",
    ],
  );
  t.deepEqual(seen[6]![1].content_block, { type: "tool_use", id: "call_1", name: "f", input: {} });
  t.like(seen[0]![1], { message: { id: "msg_1", model: "m", role: "assistant", content: [], stop_reason: null } });
  t.deepEqual(seen[13]![1], {
    type: "message_delta",
    delta: { stop_reason: "tool_use", stop_sequence: null, stop_details: null },
    usage: { input_tokens: 16, output_tokens: 5, cache_read_input_tokens: 4, cache_creation_input_tokens: 0 },
  });
});

test("thinking deltas, a signature that seals the block, and redacted thinking", (t) => {
  const state = new AnthropicStreamState("msg_2", "m");
  const reasoning = (text: string, signature = "", redactedData = "") =>
    state.add(part({ case: "reasoning", value: { $typeName: "iir.inference.v1.ReasoningDelta", text, signature, redactedData } }));
  let text = reasoning("let me ") + reasoning("think") + reasoning("", "sig==") + reasoning("", "", "opaque") + reasoning("more");
  text += state.add(part({ case: "text", value: { $typeName: "iir.inference.v1.TextDelta", text: "answer" } }));
  text += state.finish();
  const seen = events(text);
  t.deepEqual(
    seen.map(([name, data]) => `${name}${name === "content_block_delta" ? `:${String((data.delta as { type: string }).type)}` : ""}${data.content_block ? `:${String((data.content_block as { type: string }).type)}` : ""}`),
    [
      "content_block_start:thinking",
      "content_block_delta:thinking_delta",
      "content_block_delta:thinking_delta",
      "content_block_delta:signature_delta",
      "content_block_stop",
      "content_block_start:redacted_thinking",
      "content_block_stop",
      "content_block_start:thinking",
      "content_block_delta:thinking_delta",
      "content_block_stop",
      "content_block_start:text",
      "content_block_delta:text_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ],
  );
  t.deepEqual(seen.at(-2)![1].delta, { stop_reason: "end_turn", stop_sequence: null, stop_details: null });
});

test("a stop sequence the backend named ends the stream as stop_sequence", (t) => {
  const state = new AnthropicStreamState("msg_3", "m");
  state.add(part({ case: "finish", value: { $typeName: "iir.inference.v1.Finish", reason: FinishReason.STOP, rawReason: "", stopSequence: "END" } }));
  const delta = events(state.finish()).find(([name]) => name === "message_delta")![1].delta;
  t.deepEqual(delta, { stop_reason: "stop_sequence", stop_sequence: "END", stop_details: null });
});
