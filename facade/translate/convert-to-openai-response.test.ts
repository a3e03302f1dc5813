import test from "ava";
import { FinishReason, type ChatStreamResponse } from "../../gen/iir/inference/v1/inference_pb.js";
import { chunkChoiceFromStreamPart, chunkEvent, chunkPrefix, partEvent } from "./convert-to-openai-response.js";

const prefix = chunkPrefix("chatcmpl-1", 1700000000, "team/chat");

function part(event: ChatStreamResponse["event"], choiceIndex = 0): ChatStreamResponse {
  return { $typeName: "iir.inference.v1.ChatStreamResponse", event, choiceIndex, backend: "openai", cached: false, model: "m" };
}

const texts = ["plain", "", "quote \" backslash \\ slash /", "line\nbreak\ttab\r\u0000\u001f", "héllo 日本語 🎉", "lone \ud800 surrogate", "</script>"];

test("a text or reasoning part is written as the chunk the generic path builds, byte for byte", (t) => {
  for (const text of texts) {
    for (const choiceIndex of [0, 3]) {
      const textPart = part({ case: "text", value: { $typeName: "iir.inference.v1.TextDelta", text } }, choiceIndex);
      t.is(partEvent(prefix, textPart), chunkEvent(prefix, chunkChoiceFromStreamPart(textPart)!), JSON.stringify(text));
      const reasoningPart = part({ case: "reasoning", value: { $typeName: "iir.inference.v1.ReasoningDelta", text, signature: "", redactedData: "" } }, choiceIndex);
      t.is(partEvent(prefix, reasoningPart), chunkEvent(prefix, chunkChoiceFromStreamPart(reasoningPart)!));
    }
  }
  const event = partEvent(prefix, part({ case: "text", value: { $typeName: "iir.inference.v1.TextDelta", text: "a\"b" } }, 1))!;
  t.true(event.startsWith("data: ") && event.endsWith("\n\n"));
  t.deepEqual(JSON.parse(event.slice(6)).choices, [{ index: 1, delta: { content: "a\"b" }, finish_reason: null }]);
});

test("other parts take the generic path; usage and empty events are not choice chunks", (t) => {
  const finish = part({ case: "finish", value: { $typeName: "iir.inference.v1.Finish", reason: FinishReason.LENGTH, rawReason: "", stopSequence: "" } }, 2);
  t.deepEqual(JSON.parse(partEvent(prefix, finish)!.slice(6)).choices, [{ index: 2, delta: {}, finish_reason: "length" }]);
  const usage = part({ case: "usage", value: { $typeName: "iir.inference.v1.Usage", promptTokens: 1, completionTokens: 2, totalTokens: 3, cachedPromptTokens: 0, reasoningTokens: 0, cacheCreationTokens: 0 } });
  t.is(partEvent(prefix, usage), undefined);
  t.is(partEvent(prefix, part({ case: undefined })), undefined);
});
