import test from "ava";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ChatParamsSchema, Role } from "../../../../gen/iir/inference/v1/inference_pb.js";
import { chatParamsToAnthropicCountTokensRequest, chatParamsToAnthropicRequest } from "./convert-to-anthropic-request.js";

const target = { upstreamModel: "claude-sonnet-4-5" };
const hello = [{ role: Role.USER, content: { case: "text" as const, value: "hi" } }];

test("n above 1 is refused: Anthropic answers one choice", (t) => {
  const error = t.throws(() => chatParamsToAnthropicRequest(create(ChatParamsSchema, { messages: hello, n: 2 }), target, false), { instanceOf: ConnectError });
  t.is(error?.code, Code.InvalidArgument);
});

test("a data: URL that is not base64 is InvalidArgument", (t) => {
  const params = create(ChatParamsSchema, { messages: [{ role: Role.USER, content: { case: "parts", value: { parts: [{ part: { case: "imageUrl", value: { url: "data:image/svg+xml,<svg/>" } } }] } } }] });
  const error = t.throws(() => chatParamsToAnthropicRequest(params, target, false), { instanceOf: ConnectError });
  t.is(error?.code, Code.InvalidArgument);
});

test("Anthropic's own tools and billing fields go only where the registry allows them", (t) => {
  const params = create(ChatParamsSchema, { messages: hello, tools: [{ type: "web_search_20250305", function: { name: "web_search", parameters: { max_uses: 5 } } }], extra: { service_tier: "auto" } });
  const closed = chatParamsToAnthropicRequest(params, target, false);
  t.deepEqual(closed.droppedFields, ["service_tier", "tools:web_search_20250305"]);
  t.false("tools" in closed.request || "service_tier" in closed.request);
  const open = chatParamsToAnthropicRequest(params, { ...target, allowedRequestFields: ["service_tier", "tools:web_search_20250305"] }, false);
  t.deepEqual(open.request.tools, [{ max_uses: 5, type: "web_search_20250305", name: "web_search" }]);
  t.is(open.request.service_tier, "auto");
});

test("a tool_choice without tools is left out; typed fields win over extras of the same name", (t) => {
  const params = create(ChatParamsSchema, { messages: hello, toolChoice: { choice: { case: "mode", value: "auto" } }, maxTokens: 5, extra: { max_tokens: 99, model: "other", stream: true } });
  const { request } = chatParamsToAnthropicRequest(params, target, false);
  t.false("tool_choice" in request);
  t.is(request.max_tokens, 5);
  t.is(request.model, "claude-sonnet-4-5");
  t.false("stream" in request, "an extra never turns a unary call into a stream");
});

test("the count_tokens body keeps the prompt, tools and thinking only", (t) => {
  const params = create(ChatParamsSchema, { messages: [{ role: Role.SYSTEM, content: { case: "text", value: "s" } }, ...hello], temperature: 1, reasoningBudgetTokens: 1024, user: "u" });
  t.deepEqual(chatParamsToAnthropicCountTokensRequest(params, target), {
    model: "claude-sonnet-4-5",
    messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }],
    system: [{ type: "text", text: "s" }],
    thinking: { type: "enabled", budget_tokens: 1024 },
  });
});
