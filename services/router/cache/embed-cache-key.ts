import { hash } from "node:crypto";
import type { JsonValue } from "@bufbuild/protobuf";
import type { EmbedRequest } from "../../../gen/iir/inference/v1/inference_pb.js";

// Extras that only label the request; as for chat keys (cache-key.ts), they do not change the vectors.
const ignoredExtraFields: ReadonlySet<string> = new Set(["user", "metadata", "encoding_format"]);

/**
 * The response cache key of an embeddings request: `embed:` (so it can never equal a chat key),
 * the model, and a SHA-256 of what changes the vectors: the inputs in order, `dimensions` and the
 * provider extras in canonical form. `user` is left out: it names who asked, not what.
 */
export function embedCacheKeyFor(request: EmbedRequest): string {
  // No extras and only ignored ones are the same request.
  const extra = request.extra === undefined ? "{}" : canonicalJson(request.extra, ignoredExtraFields);
  let text = `${request.model}\n${request.dimensions ?? ""}\n${extra}\n`;
  // Each input as a JSON string: no input can run into the next, whatever it contains.
  for (const input of request.inputs) text += `${JSON.stringify(input)}\n`;
  return `embed:${request.model.slice(0, 200)}:${hash("sha256", text, "base64url")}`;
}

/** JSON with object keys sorted at every depth; `ignored` keys left out at the top level only. */
function canonicalJson(value: JsonValue, ignored?: ReadonlySet<string>): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(",")}]`;
  const entries: string[] = [];
  for (const key of Object.keys(value).sort()) {
    const field = value[key];
    if (ignored?.has(key) || field === undefined) continue;
    entries.push(`${JSON.stringify(key)}:${canonicalJson(field)}`);
  }
  return `{${entries.join(",")}}`;
}
