import test from "ava";
import { create } from "@bufbuild/protobuf";
import { ChatResponseSchema, FinishReason, Role } from "../../gen/iir/inference/v1/inference_pb.js";
import { createChatResponseAssembler, partsFromChatResponse } from "./chat-response-parts.js";

// A whole answer → parts → a whole answer again, as the cache stores and replays it.

const answer = create(ChatResponseSchema, {
  model: "claude-sonnet-4-5",
  backend: "anthropic",
  choices: [
    {
      index: 0,
      finishReason: FinishReason.STOP,
      rawFinishReason: "stop_sequence",
      stopSequence: "###",
      message: {
        role: Role.ASSISTANT,
        content: { case: "text", value: "12,231" },
        reasoning: [{ text: "27 * 453 = 12,231", signature: "sig-1" }, { redactedData: "opaque" }, { text: "check", signature: "sig-2" }],
        toolCalls: [{ id: "toolu_1", type: "function", function: { name: "f", arguments: "{}" } }],
      },
    },
  ],
  usage: { promptTokens: 188107, completionTokens: 393, totalTokens: 188500, cachedPromptTokens: 21, cacheCreationTokens: 188086 },
});

test("reasoning blocks with signatures and redacted data, the raw finish reason, the stop sequence and cache-creation tokens survive a replay", (t) => {
  const parts = partsFromChatResponse(answer, true);
  t.deepEqual(
    parts.map((part) => part.event.case),
    ["reasoning", "reasoning", "reasoning", "text", "toolCall", "finish", "usage"],
  );
  t.true(parts.every((part) => part.cached));
  const assembler = createChatResponseAssembler();
  for (const part of parts) assembler.add(part);
  const { response, finished } = assembler.result();
  t.true(finished);
  const [choice] = response.choices;
  t.deepEqual(
    choice?.message?.reasoning.map(({ text, signature, redactedData }) => ({ text, signature, redactedData })),
    [
      { text: "27 * 453 = 12,231", signature: "sig-1", redactedData: "" },
      { text: "", signature: "", redactedData: "opaque" },
      { text: "check", signature: "sig-2", redactedData: "" },
    ],
  );
  t.is(choice?.rawFinishReason, "stop_sequence");
  t.is(choice?.stopSequence, "###");
  t.is(response.usage?.cacheCreationTokens, 188086);
  t.is(response.usage?.cachedPromptTokens, 21);
});

test("streamed reasoning: text deltas join one block until a signature ends it; unsigned reasoning is one block", (t) => {
  const assembler = createChatResponseAssembler();
  const reasoning = (text: string, signature = "", redactedData = "") =>
    ({ $typeName: "iir.inference.v1.ChatStreamResponse", event: { case: "reasoning", value: { $typeName: "iir.inference.v1.ReasoningDelta", text, signature, redactedData } }, choiceIndex: 0, backend: "b", model: "m", cached: false }) as const;
  for (const part of [reasoning("a"), reasoning("b"), reasoning("", "s1"), reasoning("c"), reasoning("d")]) assembler.add(part);
  const blocks = assembler.result().response.choices[0]?.message?.reasoning ?? [];
  t.deepEqual(blocks.map(({ text, signature }) => [text, signature]), [["ab", "s1"], ["cd", ""]]);
});
