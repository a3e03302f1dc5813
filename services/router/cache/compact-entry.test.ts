import test from "ava";
import { clone, create, equals } from "@bufbuild/protobuf";
import { ChatResponseSchema, FinishReason, Role, type ChatResponse } from "../../../gen/iir/inference/v1/inference_pb.js";
import { compactEntry, expandEntry } from "./compact-entry.js";
import { createMemoryCache } from "./memory-cache.js";

const plain = create(ChatResponseSchema, {
  id: "",
  created: 1700000000n,
  model: "gpt-4o-mini",
  backend: "openai",
  usage: { promptTokens: 12, completionTokens: 5, totalTokens: 17, cachedPromptTokens: 2, reasoningTokens: 1 },
  choices: [{ index: 0, finishReason: FinishReason.LENGTH, message: { role: Role.ASSISTANT, content: { case: "text", value: "Gates open, close" } } }],
});

function withChange(change: (response: ChatResponse) => void): ChatResponse {
  const copy = clone(ChatResponseSchema, plain);
  change(copy);
  return copy;
}

test("a plain answer is held flat and comes back equal, with and without usage", (t) => {
  for (const response of [plain, withChange((copy) => (copy.usage = undefined)), withChange((copy) => (copy.choices[0]!.message!.content = { case: "text", value: "" }))]) {
    const compact = compactEntry({ response, expiresAt: 99 });
    t.not(compact, undefined);
    const back = expandEntry(compact!);
    t.is(back.expiresAt, 99);
    t.true(equals(ChatResponseSchema, back.response, response));
  }
});

test("answers of any other shape are not compacted", (t) => {
  const others: Array<[string, ChatResponse]> = [
    ["two choices", withChange((copy) => copy.choices.push(clone(ChatResponseSchema, plain).choices[0]!))],
    ["no choice", withChange((copy) => (copy.choices = []))],
    ["tool calls", withChange((copy) => copy.choices[0]!.message!.toolCalls.push({ $typeName: "iir.inference.v1.ToolCall", id: "c", type: "function" }))],
    ["content parts", withChange((copy) => (copy.choices[0]!.message!.content = { case: "parts", value: { $typeName: "iir.inference.v1.ContentParts", parts: [] } }))],
    ["no content", withChange((copy) => (copy.choices[0]!.message!.content = { case: undefined }))],
    ["passed-through fields", withChange((copy) => (copy.choices[0]!.message!.extra = { refusal: "no" }))],
    ["a name", withChange((copy) => (copy.choices[0]!.message!.name = "bot"))],
    ["no message", withChange((copy) => (copy.choices[0]!.message = undefined))],
  ];
  for (const [what, response] of others) t.is(compactEntry({ response, expiresAt: 1 }), undefined, what);
});

test("the memory cache answers the same whether it held an entry flat or whole", async (t) => {
  const cache = createMemoryCache({ maxEntries: 10, maxBytes: 1024 * 1024 });
  const whole = withChange((copy) => (copy.choices[0]!.message!.extra = { refusal: "no" }));
  await cache.set("plain", { response: plain, expiresAt: Date.now() + 60_000 });
  await cache.set("whole", { response: whole, expiresAt: Date.now() + 60_000 });
  t.true(equals(ChatResponseSchema, (await cache.get("plain"))!.response, plain));
  t.is((await cache.get("whole"))!.response, whole);
  const first = (await cache.get("plain"))!.response;
  first.choices[0]!.message!.content = { case: "text", value: "changed by a reader" };
  t.true(equals(ChatResponseSchema, (await cache.get("plain"))!.response, plain), "each hit gets its own objects");
});
