import { createHash } from "node:crypto";
import { toJson, type JsonValue } from "@bufbuild/protobuf";
import { ChatParamsSchema, type ChatParams } from "../../../gen/iir/inference/v1/inference_pb.js";

// Fields that do not change what the model answers: who asked, and how the answer is delivered.
const ignoredFields: ReadonlySet<string> = new Set(["user", "streamOptions"]);
// The same for provider extras passed through untouched (OpenAI's metadata/store only label the request).
const ignoredExtraFields: ReadonlySet<string> = new Set(["user", "stream", "stream_options", "metadata", "store"]);
const noFields: ReadonlySet<string> = new Set();

/**
 * The response cache key of a request: the model and a SHA-256 of every field that changes the
 * output (messages, sampling, stop, seed, tools, response_format, n, provider extras) in canonical
 * form — object keys sorted at every depth — so field order and whitespace in the client's JSON do
 * not matter.
 */
export function cacheKeyFor(params: ChatParams): string {
  const json = toJson(ChatParamsSchema, params) as JsonValue;
  const digest = createHash("sha256").update(params.model).update("\n").update(canonical(json, ignoredFields)).digest("base64url");
  return `${params.model.slice(0, 200)}:${digest}`;
}

function canonical(value: JsonValue, ignored: ReadonlySet<string>): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((item) => canonical(item, noFields)).join(",")}]`;
  const keys = Object.keys(value)
    .filter((key) => !ignored.has(key))
    .sort();
  const fields = keys.map((key) => `${JSON.stringify(key)}:${canonical(value[key]!, ignored === ignoredFields && key === "extra" ? ignoredExtraFields : noFields)}`);
  return `{${fields.join(",")}}`;
}
