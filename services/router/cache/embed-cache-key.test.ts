import test from "ava";
import { create } from "@bufbuild/protobuf";
import { ChatParamsSchema, EmbedRequestSchema, Role } from "../../../gen/iir/inference/v1/inference_pb.js";
import { cacheKeyFor } from "./cache-key.js";
import { embedCacheKeyFor } from "./embed-cache-key.js";

const request = (init: Parameters<typeof create<typeof EmbedRequestSchema>>[1] = {}) => create(EmbedRequestSchema, { model: "openai/text-embedding-3-small", inputs: ["a", "b"], ...init });

test("equal requests share a key; inputs, their order and split, dimensions, model and extras change it", (t) => {
  const key = embedCacheKeyFor(request());
  t.is(embedCacheKeyFor(request()), key);
  t.is(embedCacheKeyFor(request({ user: "someone" })), key, "who asked does not change the vectors");
  t.is(embedCacheKeyFor(request({ extra: { encoding_format: "base64", metadata: { a: 1 } } })), key);
  const others = [
    request({ inputs: ["b", "a"] }),
    request({ inputs: ["a\nb"] }),
    request({ inputs: ["a", "b", "c"] }),
    request({ dimensions: 256 }),
    request({ model: "openai/text-embedding-3-large" }),
    request({ extra: { input_type: "query" } }),
  ];
  const keys = new Set([key, ...others.map(embedCacheKeyFor)]);
  t.is(keys.size, others.length + 1);
  t.is(embedCacheKeyFor(request({ extra: { a: 1, b: { d: 2, c: 3 } } })), embedCacheKeyFor(request({ extra: { b: { c: 3, d: 2 }, a: 1 } })), "extras in canonical order");
});

test("an embeddings key never equals a chat key of the same model", (t) => {
  const chat = cacheKeyFor(create(ChatParamsSchema, { model: "m", messages: [{ role: Role.USER, content: { case: "text", value: "a" } }] }));
  const embed = embedCacheKeyFor(create(EmbedRequestSchema, { model: "m", inputs: ["a"] }));
  t.true(embed.startsWith("embed:m:"));
  t.false(chat.startsWith("embed:"));
  t.not(embed, chat);
});
