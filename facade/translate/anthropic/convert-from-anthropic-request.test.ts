import test from "ava";
import { Role } from "../../../gen/iir/inference/v1/inference_pb.js";
import { RequestValidationError } from "../request-validation-error.js";
import { chatParamsFromAnthropicRequest } from "./convert-from-anthropic-request.js";

const minimal = { model: "claude-x", max_tokens: 64, messages: [{ role: "user", content: "hi" }] };

function refusal(body: unknown, counting = false): RequestValidationError {
  try {
    chatParamsFromAnthropicRequest(body, { counting });
  } catch (error) {
    if (error instanceof RequestValidationError) return error;
    throw error;
  }
  throw new Error("the request was accepted");
}

test("sampling fields, stop sequences, metadata.user_id and thinking map onto ChatParams", (t) => {
  const { params, stream } = chatParamsFromAnthropicRequest({
    ...minimal,
    stream: true,
    temperature: 0.3,
    top_p: 0.9,
    top_k: 40,
    stop_sequences: ["END", "\n\nHuman:"],
    metadata: { user_id: "user-7" },
    thinking: { type: "enabled", budget_tokens: 2048 },
    service_tier: "auto",
  });
  t.true(stream);
  t.is(params.model, "claude-x");
  t.is(params.maxTokens, 64);
  t.is(params.temperature, 0.3);
  t.is(params.topP, 0.9);
  t.is(params.topK, 40);
  t.deepEqual(params.stop, ["END", "\n\nHuman:"]);
  t.is(params.user, "user-7");
  t.is(params.reasoningBudgetTokens, 2048);
  t.deepEqual(params.extra, { service_tier: "auto" }, "fields without a typed home travel untouched");
});

test("system as a string or as text blocks becomes the first message; cache_control stays on its block", (t) => {
  const plain = chatParamsFromAnthropicRequest({ ...minimal, system: "be brief" }).params.messages;
  t.is(plain[0]?.role, Role.SYSTEM);
  t.deepEqual(plain[0]?.content, { case: "text", value: "be brief" });
  const blocks = chatParamsFromAnthropicRequest({
    ...minimal,
    system: [{ type: "text", text: "one" }, { type: "text", text: "two", cache_control: { type: "ephemeral" } }],
  }).params.messages[0]!;
  t.is(blocks.content.case, "parts");
  const parts = blocks.content.case === "parts" ? blocks.content.value.parts.map((part) => part.part) : [];
  t.deepEqual(parts[0], { case: "text", value: "one" });
  t.deepEqual(parts[1], { case: "other", value: { type: "text", text: "two", cache_control: { type: "ephemeral" } } });
});

test("images from base64 and url sources become image parts", (t) => {
  const { params } = chatParamsFromAnthropicRequest({
    ...minimal,
    messages: [
      {
        role: "user",
        content: [
          { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
          { type: "image", source: { type: "url", url: "https://example.com/cat.jpg" } },
          { type: "text", text: "what is this?" },
        ],
      },
    ],
  });
  const content = params.messages[0]!.content;
  const parts = content.case === "parts" ? content.value.parts.map((part) => part.part) : [];
  t.is(parts[0]?.case === "imageUrl" ? parts[0].value.url : undefined, "data:image/png;base64,iVBORw0KGgo=");
  t.is(parts[1]?.case === "imageUrl" ? parts[1].value.url : undefined, "https://example.com/cat.jpg");
  t.deepEqual(parts[2], { case: "text", value: "what is this?" });
});

test("an assistant turn's thinking, text and tool_use, then tool results, map to reasoning, tool calls and tool messages", (t) => {
  const { params } = chatParamsFromAnthropicRequest({
    ...minimal,
    messages: [
      { role: "user", content: "weather?" },
      {
        role: "assistant",
        content: [
          { type: "thinking", thinking: "need the tool", signature: "sig-1" },
          { type: "redacted_thinking", data: "opaque" },
          { type: "text", text: "Checking." },
          { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "sunny" }], is_error: false },
          { type: "tool_result", tool_use_id: "toolu_2", content: "boom", is_error: true, cache_control: { type: "ephemeral" } },
          { type: "text", text: "thanks" },
        ],
      },
    ],
  });
  const [, assistant, first, second, user] = params.messages;
  t.is(params.messages.length, 5);
  t.is(assistant?.role, Role.ASSISTANT);
  t.deepEqual(assistant?.content, { case: "text", value: "Checking." });
  t.deepEqual(assistant?.reasoning.map(({ text, signature, redactedData }) => ({ text, signature, redactedData })), [
    { text: "need the tool", signature: "sig-1", redactedData: "" },
    { text: "", signature: "", redactedData: "opaque" },
  ]);
  t.is(assistant?.toolCalls[0]?.id, "toolu_1");
  t.is(assistant?.toolCalls[0]?.function?.name, "get_weather");
  t.deepEqual(JSON.parse(assistant?.toolCalls[0]?.function?.arguments ?? ""), { city: "Paris" });
  t.is(first?.role, Role.TOOL);
  t.is(first?.toolCallId, "toolu_1");
  t.deepEqual(first?.content, { case: "text", value: "sunny" });
  t.false(first?.isError);
  t.true(second?.isError);
  t.deepEqual(second?.extra, { cache_control: { type: "ephemeral" } });
  t.is(user?.role, Role.USER);
  t.deepEqual(user?.content, { case: "text", value: "thanks" });
});

test("an assistant turn with only tool_use has no content", (t) => {
  const { params } = chatParamsFromAnthropicRequest({
    ...minimal,
    messages: [
      { role: "user", content: "x" },
      { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "f", input: {} }] },
    ],
  });
  t.is(params.messages[1]?.content.case, undefined);
});

test("tools and every tool_choice", (t) => {
  const tools = [{ name: "get_weather", description: "weather", input_schema: { type: "object", properties: { city: { type: "string" } } } }];
  const auto = chatParamsFromAnthropicRequest({ ...minimal, tools, tool_choice: { type: "auto", disable_parallel_tool_use: true } }).params;
  t.is(auto.tools[0]?.function?.name, "get_weather");
  t.is(auto.tools[0]?.function?.description, "weather");
  t.deepEqual(auto.tools[0]?.function?.parameters, tools[0]!.input_schema);
  t.deepEqual(auto.toolChoice?.choice, { case: "mode", value: "auto" });
  t.deepEqual(auto.extra, { parallel_tool_calls: false });
  const any = chatParamsFromAnthropicRequest({ ...minimal, tools, tool_choice: { type: "any" } }).params;
  t.deepEqual(any.toolChoice?.choice, { case: "mode", value: "required" });
  t.is(any.extra, undefined);
  const forced = chatParamsFromAnthropicRequest({ ...minimal, tools, tool_choice: { type: "tool", name: "get_weather" } }).params;
  t.deepEqual(forced.toolChoice?.choice, { case: "functionName", value: "get_weather" });
  const none = chatParamsFromAnthropicRequest({ ...minimal, tools, tool_choice: { type: "none" } }).params;
  t.deepEqual(none.toolChoice?.choice, { case: "mode", value: "none" });
});

test("invalid requests name the field as Anthropic does", (t) => {
  t.is(refusal({ model: "m", messages: [{ role: "user", content: "x" }] }).param, "max_tokens");
  t.is(refusal({ ...minimal, model: undefined }).param, "model");
  t.is(refusal({ ...minimal, messages: [] }).param, "messages");
  t.is(refusal({ ...minimal, messages: [{ role: "system", content: "x" }] }).param, "messages.0.role");
  t.is(refusal({ ...minimal, messages: [{ role: "user", content: [{ type: "tool_result" }] }] }).param, "messages.0.content.0.tool_use_id");
  t.is(refusal({ ...minimal, temperature: 1.5 }).param, "temperature");
  t.is(refusal({ ...minimal, tool_choice: { type: "sometimes" } }).param, "tool_choice.type");
  t.is(refusal({ ...minimal, tools: [{ name: "f" }] }).param, "tools.0.input_schema");
  t.is(refusal({ ...minimal, tools: [{ type: "web_search_20250305", name: "web_search" }] }).param, "tools.0.type");
  t.is(refusal({ ...minimal, thinking: { type: "enabled" } }).param, "thinking.budget_tokens");
  t.is(refusal([minimal]).param, null);
});

test("count_tokens bodies need no max_tokens and never stream", (t) => {
  const { params, stream } = chatParamsFromAnthropicRequest({ model: "m", messages: [{ role: "user", content: "x" }], stream: true }, { counting: true });
  t.is(params.maxTokens, undefined);
  t.false(stream);
});
