import { Code, ConnectError } from "@connectrpc/connect";
import type { EmbedRequest, EmbedResponse, Embedding } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatTarget } from "../adapter.js";
import { countOf, isRecord } from "../openai-compatible/json-guards.js";
import { upstreamErrorContext } from "../upstream/upstream-secrets.js";
import { connectErrorFromGoogleEvent } from "./google-error.js";
import { googleModelName } from "./convert-google-models.js";
import type { GoogleBatchEmbedRequest } from "./google-wire-types.js";

// Embedding fields a client may send as extras, per input (taskType: RETRIEVAL_QUERY…; title).
const passedExtras: ReadonlySet<string> = new Set(["taskType", "title"]);

/** The `batchEmbedContents` body: one request per input, in order; `dimensions` is outputDimensionality. */
export function embedRequestToGoogle(request: EmbedRequest, upstreamModel: string): GoogleBatchEmbedRequest {
  const model = googleModelName(upstreamModel);
  const shared: Record<string, unknown> = {};
  const extra = request.extra;
  if (extra !== undefined) for (const field of Object.keys(extra)) if (passedExtras.has(field)) shared[field] = extra[field];
  if (request.dimensions !== undefined) shared.outputDimensionality = request.dimensions;
  return { requests: request.inputs.map((text) => ({ ...shared, model, content: { parts: [{ text }] } })) };
}

/** `{embeddings: [{values}]}` as the contract's response; anything else is Unavailable. Gemini reports no token usage here. */
export function embedResponseFromGoogle(json: unknown, target: ChatTarget, inputCount: number): EmbedResponse {
  if (isRecord(json) && isRecord(json.error)) throw connectErrorFromGoogleEvent(json, upstreamErrorContext(target));
  if (!isRecord(json) || !Array.isArray(json.embeddings)) throw malformed("it has no `embeddings` list");
  if (json.embeddings.length !== inputCount) throw malformed(`it holds ${json.embeddings.length} embeddings for ${inputCount} inputs`);
  const embeddings = json.embeddings.map((entry: unknown, index): Embedding => {
    if (!isRecord(entry) || !Array.isArray(entry.values) || entry.values.some((value) => typeof value !== "number")) throw malformed("an embedding is not a list of numbers");
    return { $typeName: "iir.inference.v1.Embedding", index, values: entry.values as number[] };
  });
  return {
    $typeName: "iir.inference.v1.EmbedResponse",
    model: target.upstreamModel,
    embeddings,
    usage: { $typeName: "iir.inference.v1.Usage", promptTokens: 0, completionTokens: 0, totalTokens: 0, cachedPromptTokens: 0, reasoningTokens: 0, cacheCreationTokens: 0 },
    backend: target.backend,
    cached: false,
  };
}

/** `countTokens`' `{totalTokens}`. */
export function tokenCountFromGoogle(json: unknown, target: ChatTarget): number {
  if (isRecord(json) && isRecord(json.error)) throw connectErrorFromGoogleEvent(json, upstreamErrorContext(target));
  if (!isRecord(json) || typeof json.totalTokens !== "number") throw malformed("a token count has no totalTokens");
  return countOf(json.totalTokens);
}

function malformed(reason: string): ConnectError {
  return new ConnectError(`google upstream returned a malformed response: ${reason}`, Code.Unavailable);
}
