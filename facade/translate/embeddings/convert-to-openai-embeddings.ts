import type { EmbedResponse } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { EmbeddingEncoding } from "./convert-from-openai-embeddings-request.js";

/** OpenAI's embeddings response body. */
export interface OpenAIEmbeddingsResponse {
  readonly object: "list";
  readonly data: Array<{ readonly object: "embedding"; readonly index: number; readonly embedding: number[] | string }>;
  readonly model: string;
  readonly usage: { readonly prompt_tokens: number; readonly total_tokens: number };
}

/**
 * The contract's EmbedResponse as OpenAI's `list` of embeddings, in input order. Vectors are float32
 * in the contract: as JSON numbers they are written with the 9 significant digits that identify a
 * float32, not the 17 of the double that holds it; as base64 they are little-endian float32 bytes,
 * which the OpenAI SDKs decode (the Node SDK asks for base64 unless told otherwise).
 */
export function embeddingsResponseToOpenAI(response: EmbedResponse, encoding: EmbeddingEncoding, requestedModel: string): OpenAIEmbeddingsResponse {
  const ordered = [...response.embeddings].sort((left, right) => left.index - right.index);
  return {
    object: "list",
    data: ordered.map((embedding) => ({
      object: "embedding",
      index: embedding.index,
      embedding: encoding === "base64" ? float32Base64(embedding.values) : embedding.values.map(float32Number),
    })),
    model: response.model || requestedModel,
    usage: { prompt_tokens: response.usage?.promptTokens ?? 0, total_tokens: response.usage?.totalTokens || (response.usage?.promptTokens ?? 0) },
  };
}

/** The shortest decimal of at most 9 significant digits that reads back as the same float32. */
function float32Number(value: number): number {
  return Number.isFinite(value) ? Number(value.toPrecision(9)) : value;
}

function float32Base64(values: readonly number[]): string {
  const bytes = Buffer.allocUnsafe(values.length * 4);
  for (let index = 0; index < values.length; index++) bytes.writeFloatLE(values[index]!, index * 4);
  return bytes.toString("base64");
}
