import test from "ava";
import { create } from "@bufbuild/protobuf";
import { ChatParamsSchema, Role } from "../../../../gen/iir/inference/v1/inference_pb.js";
import { controlledFieldsOf, controlledRequestFields, withoutControlledFields } from "./controlled-request-fields.js";
import { chatParamsToOpenAIRequest } from "./convert-to-openai-request.js";

test("a provider's controlled fields are dropped unless allowed; every other extra stays", (t) => {
  const extra = { service_tier: "priority", store: true, metadata: { team: "a" }, logprobs: true };
  const none = withoutControlledFields(extra, "openai");
  t.deepEqual(none.extra, { metadata: { team: "a" }, logprobs: true });
  t.deepEqual(none.dropped, ["service_tier", "store"]);
  const some = withoutControlledFields(extra, "openai", ["service_tier"]);
  t.deepEqual(some.extra, { service_tier: "priority", metadata: { team: "a" }, logprobs: true });
  t.deepEqual(some.dropped, ["store"]);
  t.deepEqual(extra, { service_tier: "priority", store: true, metadata: { team: "a" }, logprobs: true }, "the request's own extras are left alone");
});

test("nothing dropped hands back the same object; llm-d controls nothing", (t) => {
  const extra = { logprobs: true, service_tier: "flex" };
  t.is(withoutControlledFields({ logprobs: true }, "openai").extra.logprobs, true);
  const kept = withoutControlledFields(extra, "llm-d");
  t.is(kept.extra, extra);
  t.deepEqual(kept.dropped, []);
});

test("OpenRouter's routing fields are controlled; a type without a list of its own gets every list", (t) => {
  const extra = { models: ["a", "b"], provider: { order: ["x"] }, route: "fallback", transforms: ["middle-out"], plugins: [{ id: "web" }], top_k: 4 };
  t.deepEqual(withoutControlledFields(extra, "openrouter").extra, { top_k: 4 });
  for (const fields of Object.values(controlledRequestFields)) {
    for (const field of fields) t.true(controlledFieldsOf("openai-compatible").includes(field), field);
  }
  t.deepEqual(controlledFieldsOf("groq"), ["service_tier", "compound_custom"]);
  t.true(controlledFieldsOf("venice").includes("venice_parameters"));
  t.true(controlledFieldsOf("__proto__").includes("service_tier"), "a prototype property name is no provider");
});

test("a field named __proto__ is copied as data, never as the copy's prototype", (t) => {
  const extra = JSON.parse('{"__proto__": {"polluted": true}, "store": true}') as Record<string, never>;
  const { extra: kept } = withoutControlledFields(extra, "openai");
  t.is(Object.getPrototypeOf(kept), Object.prototype);
  t.true(Object.hasOwn(kept, "__proto__"));
});

test("the request translation applies the policy and reports what it dropped", (t) => {
  const params = create(ChatParamsSchema, {
    model: "openai/gpt-4o",
    messages: [{ role: Role.USER, content: { case: "text", value: "hi" } }],
    extra: { service_tier: "priority", logit_bias: { "1": 2 } },
  });
  const denied = chatParamsToOpenAIRequest(params, { upstreamModel: "gpt-4o", provider: "openai" }, false);
  t.false("service_tier" in denied.request);
  t.deepEqual(denied.request.logit_bias, { "1": 2 });
  t.deepEqual(denied.droppedFields, ["service_tier"]);
  const allowed = chatParamsToOpenAIRequest(params, { upstreamModel: "gpt-4o", provider: "openai", allowedRequestFields: ["service_tier"] }, false);
  t.is(allowed.request.service_tier, "priority");
  t.deepEqual(allowed.droppedFields, []);
});

test("tools the provider runs and bills itself are controlled too: kept only when the entry allows tools:<type>", (t) => {
  const params = create(ChatParamsSchema, {
    model: "m",
    messages: [{ role: Role.USER, content: { case: "text", value: "hi" } }],
    tools: [{ type: "function", function: { name: "look" } }, { type: "openrouter:web_search" }],
  });
  const target = { upstreamModel: "m", provider: "openrouter" };
  const plain = chatParamsToOpenAIRequest(params, target, false);
  t.deepEqual(plain.request.tools?.map((tool) => tool.type), ["function"]);
  t.deepEqual(plain.droppedFields, ["tools:openrouter:web_search"]);
  const allowed = chatParamsToOpenAIRequest(params, { ...target, allowedRequestFields: ["tools:openrouter:web_search"] }, false);
  t.deepEqual(allowed.request.tools?.map((tool) => tool.type), ["function", "openrouter:web_search"]);
  t.deepEqual(allowed.droppedFields, []);
});
