import test from "ava";
import { create } from "@bufbuild/protobuf";
import { ChatParamsSchema, Role } from "../../../gen/iir/inference/v1/inference_pb.js";
import { requestNeeds } from "./request-needs.js";

test("a plain question needs nothing special and is a few tokens long", (t) => {
  const needs = requestNeeds(create(ChatParamsSchema, { messages: [{ role: Role.USER, content: { case: "text", value: "hi there" } }] }));
  t.deepEqual(needs, { tools: false, images: false, jsonSchema: false, promptTokens: 2 + 4, maxOutputTokens: undefined });
});

test("tools, image parts, a json_schema response format and max tokens are detected", (t) => {
  const needs = requestNeeds(
    create(ChatParamsSchema, {
      messages: [
        {
          role: Role.USER,
          content: {
            case: "parts",
            value: { parts: [{ part: { case: "text", value: "what is this?" } }, { part: { case: "imageUrl", value: { url: "data:image/png;base64,AAAA", detail: "low" } } }] },
          },
        },
      ],
      tools: [{ type: "function", function: { name: "lookup", description: "finds things", parameters: { type: "object" } } }],
      responseFormat: { type: "json_schema" },
      maxTokens: 50,
      maxCompletionTokens: 70,
    }),
  );
  t.true(needs.tools);
  t.true(needs.images);
  t.true(needs.jsonSchema);
  t.is(needs.maxOutputTokens, 70);
  // 85 tokens for the low-detail image, the text and the tool's definition besides.
  t.true(needs.promptTokens > 85 + 4);
});

test("json_object is not json_schema, and a longer prompt counts more tokens", (t) => {
  const short = requestNeeds(create(ChatParamsSchema, { messages: [{ role: Role.USER, content: { case: "text", value: "x".repeat(40) } }], responseFormat: { type: "json_object" } }));
  const long = requestNeeds(create(ChatParamsSchema, { messages: [{ role: Role.USER, content: { case: "text", value: "x".repeat(4000) } }] }));
  t.false(short.jsonSchema);
  t.is(long.promptTokens - short.promptTokens, 990);
});
