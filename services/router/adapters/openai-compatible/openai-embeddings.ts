import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { EmbedResponseSchema, type Embedding, type EmbedRequest, type EmbedResponse } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatTarget } from "../adapter.js";
import type { UpstreamClient, UpstreamRequest } from "../upstream/upstream-client.js";
import { upstreamJsonCall } from "../upstream/upstream-json-call.js";
import { endpointOf, jsonPost } from "../upstream/upstream-request.js";
import { upstreamErrorContext } from "../upstream/upstream-secrets.js";
import { withoutControlledFields } from "./controlled-request-fields.js";
import { countOf, isRecord, stringOr } from "./json-guards.js";
import { connectErrorFromUpstreamEvent, connectErrorFromUpstreamResponse, isUpstreamErrorEvent } from "./openai-error.js";

/** OpenAI's `POST /embeddings` request body as IIR sends it. */
export interface OpenAIEmbeddingsRequest {
  readonly model: string;
  readonly input: readonly string[];
  readonly encoding_format: "float";
  readonly dimensions?: number;
  readonly user?: string;
  readonly [extra: string]: unknown;
}

// Fields IIR sets itself; a client's extra of the same name never replaces them.
const ownFields: ReadonlySet<string> = new Set(["model", "input", "encoding_format", "dimensions", "user"]);

/**
 * The upstream request for an EmbedRequest: every input in one call, in order, as floats (the
 * facade encodes base64 for its clients itself). Extras pass through, less the provider's
 * controlled fields the registry entry does not allow.
 */
export function embedRequestToOpenAI(request: EmbedRequest, target: ChatTarget): OpenAIEmbeddingsRequest {
  const body: Record<string, unknown> = {};
  if (request.extra !== undefined) {
    const { extra } = withoutControlledFields(request.extra, target.provider, target.allowedRequestFields);
    for (const key in extra) if (!ownFields.has(key)) body[key] = extra[key];
  }
  body.model = target.upstreamModel;
  body.input = request.inputs;
  body.encoding_format = "float";
  if (request.dimensions !== undefined) body.dimensions = request.dimensions;
  if (request.user !== "") body.user = request.user;
  return body as OpenAIEmbeddingsRequest;
}

/**
 * The contract's response for an OpenAI `list` of embeddings, checked rather than trusted: a body
 * that is not one (or an error sent with a 200) is Unavailable, so a fallback may answer. Vectors
 * come back ordered by `index`, as floats or as base64 (little-endian float32) where a server
 * ignored the requested format.
 */
export function embedResponseFromOpenAI(json: unknown, target: ChatTarget, inputCount: number): EmbedResponse {
  if (isRecord(json) && isUpstreamErrorEvent(json)) throw connectErrorFromUpstreamEvent(json.error, upstreamErrorContext(target));
  if (!isRecord(json) || !Array.isArray(json.data)) throw malformed(target, "it has no `data` list");
  const embeddings: Embedding[] = [];
  for (const item of json.data) {
    if (!isRecord(item)) throw malformed(target, "an item of `data` is not an object");
    const index = item.index ?? embeddings.length;
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= inputCount) throw malformed(target, "an embedding has no valid `index`");
    embeddings.push({ $typeName: "iir.inference.v1.Embedding", index, values: vectorOf(item.embedding, target) });
  }
  embeddings.sort((left, right) => left.index - right.index);
  if (embeddings.length !== inputCount || embeddings.some((embedding, position) => embedding.index !== position)) {
    throw malformed(target, `it holds ${embeddings.length} embeddings for ${inputCount} inputs`);
  }
  const usage = isRecord(json.usage) ? json.usage : {};
  const promptTokens = countOf(usage.prompt_tokens);
  return create(EmbedResponseSchema, {
    model: stringOr(json.model, target.upstreamModel),
    embeddings,
    usage: { promptTokens, totalTokens: usage.total_tokens === undefined ? promptTokens : countOf(usage.total_tokens) },
    backend: target.backend,
  });
}

function vectorOf(value: unknown, target: ChatTarget): number[] {
  if (typeof value === "string") {
    const bytes = Buffer.from(value, "base64");
    if (bytes.length % 4 !== 0) throw malformed(target, "a base64 embedding is not whole float32 values");
    return Array.from({ length: bytes.length / 4 }, (_, index) => bytes.readFloatLE(index * 4));
  }
  if (!Array.isArray(value) || value.some((number) => typeof number !== "number")) throw malformed(target, "an embedding is not a list of numbers");
  return value as number[];
}

function malformed(target: ChatTarget, reason: string): ConnectError {
  return new ConnectError(`${target.provider} upstream returned a malformed embeddings response: ${reason}`, Code.Unavailable);
}

/** What the OpenAI-compatible adapter's `embed` is built from. */
export interface OpenAIEmbedderOptions {
  readonly client: UpstreamClient;
  readonly timeoutMs: number;
}

/**
 * `embed` for OpenAI-compatible upstreams: one `POST {base}/embeddings` through the shared upstream
 * call, so errors, timeouts, cancellation and limits on error bodies are those of chat.
 */
export function createOpenAIEmbedder(options: OpenAIEmbedderOptions): (request: EmbedRequest, target: ChatTarget, signal: AbortSignal) => Promise<EmbedResponse> {
  return (request, target, signal) =>
    upstreamJsonCall({
      client: options.client,
      timeoutMs: options.timeoutMs,
      request: embeddingsHttpRequest(request, target),
      parse: (json) => embedResponseFromOpenAI(json, target, request.inputs.length),
      target,
      signal,
      errorResponse: (status, body) => connectErrorFromUpstreamResponse(status, body, upstreamErrorContext(target)),
    });
}

function embeddingsHttpRequest(request: EmbedRequest, target: ChatTarget): UpstreamRequest {
  const auth = target.apiKey === undefined ? undefined : { authorization: `Bearer ${target.apiKey}` };
  return jsonPost(endpointOf(target.baseUrl, "/embeddings"), target, JSON.stringify(embedRequestToOpenAI(request, target)), auth, "application/json");
}
