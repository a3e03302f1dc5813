import test from "ava";
import { clone, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ChatParamsSchema, MessageSchema, ResponseFormatSchema, Role, ToolChoiceSchema, type ChatParams } from "../../../gen/iir/inference/v1/inference_pb.js";
import { chatParamsFromOpenAIRequest } from "../../../facade/translate/convert-from-openai-request.js";
import { cacheKeyFor } from "./cache-key.js";

const request = {
  model: "team/chat",
  messages: [
    { role: "system", content: "Be brief." },
    { role: "user", content: [{ type: "text", text: "What is this?" }, { type: "image_url", image_url: { url: "https://example.com/a.png", detail: "low" } }] },
    { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "look", arguments: "{\"at\":1}" } }] },
    { role: "tool", tool_call_id: "call_1", content: "a cat" },
  ],
  tools: [{ type: "function", function: { name: "look", description: "Looks", parameters: { type: "object", properties: { at: { type: "integer" }, why: { type: "string" } } } } }],
  tool_choice: "auto",
  temperature: 0.2,
  stop: ["\n\n"],
  seed: 7,
  logit_bias: { "50256": -100, "198": 1 },
};

const paramsOf = (body: Record<string, unknown>) => chatParamsFromOpenAIRequest(body).params;

test("the same request has the same key however it arrived: OpenAI JSON in any key order, or protobuf bytes", (t) => {
  const key = cacheKeyFor(paramsOf(request));
  t.regex(key, /^team\/chat:[A-Za-z0-9_-]{43}$/);
  const reordered = JSON.parse(
    `{"logit_bias":{"198":1,"50256":-100},"seed":7,"stop":["\\n\\n"],"temperature":0.2,"tool_choice":"auto",
      "tools":[{"function":{"parameters":{"properties":{"why":{"type":"string"},"at":{"type":"integer"}},"type":"object"},"description":"Looks","name":"look"},"type":"function"}],
      "messages":${JSON.stringify(request.messages)},"model":"team/chat"}`,
  ) as Record<string, unknown>;
  t.is(cacheKeyFor(paramsOf(reordered)), key);
  const overTheWire = fromBinary(ChatParamsSchema, toBinary(ChatParamsSchema, paramsOf(request)));
  t.is(cacheKeyFor(overTheWire), key, "a gRPC client's request, decoded by protobuf-es");
});

test("who asked and how the answer is delivered do not change the key", (t) => {
  const key = cacheKeyFor(paramsOf(request));
  t.is(cacheKeyFor(paramsOf({ ...request, user: "someone" })), key);
  t.is(cacheKeyFor(paramsOf({ ...request, stream: true, stream_options: { include_usage: true } })), key);
  t.is(cacheKeyFor(paramsOf({ ...request, metadata: { team: "a" }, store: true })), key);
});

test("an unset field and its default are one request; an explicit zero is not unset", (t) => {
  const built = create(ChatParamsSchema, { model: "m", messages: [{ role: Role.USER, content: { case: "text", value: "hi" } }] });
  const literal: ChatParams = { ...built, messages: [{ ...built.messages[0]!, name: "" }] };
  t.is(cacheKeyFor(literal), cacheKeyFor(built));
  t.not(cacheKeyFor(changed(built, (params) => (params.temperature = 0))), cacheKeyFor(built), "temperature 0 is not the provider's default");
  const emptyText = changed(built, (params) => (params.messages = [create(MessageSchema, { role: Role.USER, content: { case: "text", value: "" } })]));
  t.not(cacheKeyFor(emptyText), cacheKeyFor(built));
});

/** A copy of `params` with one change. */
function changed(params: ChatParams, change: (params: ChatParams) => unknown): ChatParams {
  const copy = clone(ChatParamsSchema, params);
  change(copy);
  return copy;
}

// One change to each field that reaches the model; the last test checks that none is missing.
const changes: Readonly<Record<string, (params: ChatParams) => unknown>> = {
  model: (params) => (params.model = "team/other"),
  messages: (params) => (params.messages = [create(MessageSchema, { role: Role.USER, content: { case: "text", value: "Be long." } })]),
  tools: (params) => (params.tools = []),
  toolChoice: (params) => (params.toolChoice = create(ToolChoiceSchema, { choice: { case: "functionName", value: "look" } })),
  temperature: (params) => (params.temperature = 0.3),
  topP: (params) => (params.topP = 0.5),
  maxTokens: (params) => (params.maxTokens = 10),
  maxCompletionTokens: (params) => (params.maxCompletionTokens = 10),
  stop: (params) => (params.stop = ["END"]),
  seed: (params) => (params.seed = 8n),
  n: (params) => (params.n = 2),
  presencePenalty: (params) => (params.presencePenalty = 1),
  frequencyPenalty: (params) => (params.frequencyPenalty = 1),
  responseFormat: (params) => (params.responseFormat = create(ResponseFormatSchema, { type: "json_object" })),
  extra: (params) => (params.extra = { logit_bias: { "50256": -99, "198": 1 } }),
  prompt: (params) => (params.prompt = "Once upon a time"),
  topK: (params) => (params.topK = 5),
  reasoningBudgetTokens: (params) => (params.reasoningBudgetTokens = 1024),
};

test("every field that reaches the model changes the key, down to nested messages and JSON values", (t) => {
  const base = paramsOf(request);
  const key = cacheKeyFor(base);
  for (const [field, change] of Object.entries(changes)) t.not(cacheKeyFor(changed(base, change)), key, field);
  const nested: Array<[string, (body: typeof request) => unknown]> = [
    ["a message's name", (body) => ({ ...body, messages: [{ ...body.messages[0]!, name: "boss" }, ...body.messages.slice(1)] })],
    ["an image part's detail", (body) => ({ ...body, messages: [body.messages[0], { role: "user", content: [{ type: "text", text: "What is this?" }, { type: "image_url", image_url: { url: "https://example.com/a.png", detail: "high" } }] }, ...body.messages.slice(2)] })],
    ["a tool call's arguments", (body) => ({ ...body, messages: [...body.messages.slice(0, 2), { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "look", arguments: "{\"at\":2}" } }] }, body.messages[3]] })],
    ["a tool result's call id", (body) => ({ ...body, messages: [...body.messages.slice(0, 3), { role: "tool", tool_call_id: "call_2", content: "a cat" }] })],
    ["a schema inside a tool", (body) => ({ ...body, tools: [{ type: "function", function: { ...body.tools[0]!.function, parameters: { type: "object", properties: { at: { type: "number" } } } } }] })],
    ["the order of messages", (body) => ({ ...body, messages: [body.messages[0], body.messages[3], body.messages[1], body.messages[2]] })],
    ["the order of stop sequences", (body) => ({ ...body, stop: ["b", "a"] }) as unknown],
  ];
  for (const [what, change] of nested) t.not(cacheKeyFor(paramsOf(change(request) as Record<string, unknown>)), key, what);
  t.not(cacheKeyFor(paramsOf({ ...request, stop: ["b", "a"] })), cacheKeyFor(paramsOf({ ...request, stop: ["a", "b"] })));
});

test("the table above covers every field of ChatParams but those left out on purpose", (t) => {
  const leftOut = ["user", "streamOptions"];
  const fields = ChatParamsSchema.fields.map((field) => field.localName).filter((name) => !leftOut.includes(name));
  t.deepEqual(Object.keys(changes).sort(), fields.sort(), "a new ChatParams field needs a line in `changes` (or a reason to leave it out of the key)");
});

test("a client's own $typeName key in its JSON is a plain key: different extras never share a key", (t) => {
  const keyOf = (logitBias: Record<string, number>) =>
    cacheKeyFor(create(ChatParamsSchema, { model: "m", messages: [{ role: Role.USER, content: { case: "text", value: "hi" } }], extra: { $typeName: "x", logit_bias: logitBias } }));
  t.not(keyOf({ "1": 100 }), keyOf({ "2": -100 }));
  // A forged "message" inside the JSON is read as JSON too: read as a list, its length of 2e8 would
  // exhaust the heap (the test would crash, not pass).
  const forged = { a: { $typeName: "v", kind: { case: "listValue", value: { $typeName: "l", values: { length: 200_000_000 } } } } };
  const key = cacheKeyFor(create(ChatParamsSchema, { model: "m", messages: [{ role: Role.USER, content: { case: "text", value: "hi" } }], extra: forged as never }));
  t.regex(key, /^m:/);
});
