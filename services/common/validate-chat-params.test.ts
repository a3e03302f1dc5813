import test from "ava";
import { create, fromBinary, toBinary, type JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ChatParamsSchema, ChatRequestSchema, Role, type ChatParams } from "../../gen/iir/inference/v1/inference_pb.js";
import { maximumRequestDepth, protobufRecursionLimit } from "./json-depth.js";
import { validateChatParams } from "./validate-chat-params.js";

/** `{"a":{"a":…{}}}`: `levels` objects, the outermost included. */
function nested(levels: number): JsonObject {
  let value: JsonObject = {};
  for (let level = 1; level < levels; level++) value = { a: value };
  return value;
}

const hello = { role: Role.USER, content: { case: "text" as const, value: "hi" } };

// Each Struct field, filled `levels` deep, at the level it holds in the OpenAI request: an extra
// holds its object's own fields (the body is 1, a message 3), a content part is 5, so are a tool's
// parameters, and response_format.json_schema is 3.
const structFields: readonly { name: string; level: number; params: (levels: number) => ChatParams }[] = [
  { name: "params.extra", level: 1, params: (levels) => create(ChatParamsSchema, { model: "m", messages: [hello], extra: nested(levels) }) },
  { name: "params.messages[0].extra", level: 3, params: (levels) => create(ChatParamsSchema, { model: "m", messages: [{ ...hello, extra: nested(levels) }] }) },
  {
    name: "params.messages[0].parts.parts[1].other",
    level: 5,
    params: (levels) =>
      create(ChatParamsSchema, {
        model: "m",
        messages: [{ role: Role.USER, content: { case: "parts", value: { parts: [{ part: { case: "text", value: "a" } }, { part: { case: "other", value: nested(levels) } }] } } }],
      }),
  },
  {
    name: "params.tools[0].function.parameters",
    level: 5,
    params: (levels) => create(ChatParamsSchema, { model: "m", messages: [hello], tools: [{ type: "function", function: { name: "f", parameters: nested(levels) } }] }),
  },
  {
    name: "params.response_format.json_schema",
    level: 3,
    params: (levels) => create(ChatParamsSchema, { model: "m", messages: [hello], responseFormat: { type: "json_schema", jsonSchema: nested(levels) } }),
  },
];

test("each Struct field may nest as deep as the same request may as OpenAI JSON, and no deeper", (t) => {
  for (const field of structFields) {
    const fits = maximumRequestDepth - field.level + 1;
    t.notThrows(() => validateChatParams(field.params(fits)), field.name);
    const error = t.throws(() => validateChatParams(field.params(fits + 1)), { instanceOf: ConnectError }, field.name);
    t.is(error?.code, Code.InvalidArgument);
    t.true(error?.rawMessage.startsWith(`${field.name}.a`), error?.rawMessage);
    t.regex(error?.rawMessage ?? "", /deeper than 64 levels/);
  }
});

test("ten thousand levels are refused without overflowing the call stack", (t) => {
  for (const field of structFields) {
    const error = t.throws(() => validateChatParams(field.params(10_000)), { instanceOf: ConnectError });
    t.is(error?.code, Code.InvalidArgument, field.name);
  }
});

test("every request within the limit decodes with protobufRecursionLimit, and one somewhat deeper does too", (t) => {
  for (const field of structFields) {
    for (const levels of [maximumRequestDepth - field.level + 1, maximumRequestDepth + 10]) {
      const bytes = toBinary(ChatRequestSchema, create(ChatRequestSchema, { params: field.params(levels) }));
      t.notThrows(() => fromBinary(ChatRequestSchema, bytes, { recursionLimit: protobufRecursionLimit }), `${field.name} at ${levels}`);
    }
  }
  // protobuf-es's default cannot: why the limit must be set where the mesh decodes.
  const deepest = toBinary(ChatRequestSchema, create(ChatRequestSchema, { params: structFields[0]!.params(maximumRequestDepth) }));
  t.throws(() => fromBinary(ChatRequestSchema, deepest), { message: /maximum recursion depth of 100/ });
});

test("the checks that were there still name their field", (t) => {
  const invalid = (params: ChatParams | undefined) => t.throws(() => validateChatParams(params), { instanceOf: ConnectError })?.rawMessage;
  t.is(invalid(undefined), "params is required");
  t.is(invalid(create(ChatParamsSchema, { messages: [hello] })), "params.model is required");
  t.is(invalid(create(ChatParamsSchema, { model: "m", messages: [{ role: 99 as Role }] })), "params.messages[0].role must be set");
  t.is(invalid(create(ChatParamsSchema, { model: "m", messages: [hello], temperature: Number.NaN })), "params.temperature must be between 0 and 2");
});
