import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ChatParamsSchema, EmbedResponseSchema, type Embedding, type EmbedRequest, type EmbedResponse } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatTarget } from "../adapter.js";
import { UpstreamCall, upstreamFailure } from "../upstream/upstream-call.js";
import type { UpstreamClient, UpstreamRequest } from "../upstream/upstream-client.js";
import type { UpstreamProtocol } from "../upstream/upstream-protocol.js";
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
// Vectors as JSON text are large (~20 bytes a number): a full batch of 2048 × 3072 is ~125 MB.
const maximumAnswerBytes = 256 * 1024 * 1024;

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
    new Promise<EmbedResponse>((resolve, reject) => {
      new EmbeddingsCall(options, request, target, signal, resolve, reject).start(false);
    });
}

/** One embeddings call: the shared call's handling of requests and errors, with a JSON body of embeddings. */
class EmbeddingsCall extends UpstreamCall {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(
    options: OpenAIEmbedderOptions,
    private readonly request: EmbedRequest,
    target: ChatTarget,
    signal: AbortSignal,
    private readonly resolve: (response: EmbedResponse) => void,
    private readonly reject: (error: ConnectError) => void,
  ) {
    // The shared call speaks in chat terms: its protocol here builds the embeddings request and
    // maps error bodies; the answer is read by this class, so `response` and `streamState` never run.
    const protocol: UpstreamProtocol = {
      request: () => embeddingsHttpRequest(request, target),
      response: () => {
        throw new ConnectError("embeddings answers are read by their own call", Code.Internal);
      },
      streamState: () => {
        throw new ConnectError("embeddings are never streamed", Code.Internal);
      },
      errorResponse: (status, body) => connectErrorFromUpstreamResponse(status, body, upstreamErrorContext(target)),
    };
    super({ client: options.client, protocol, params: create(ChatParamsSchema), target, signal, timeoutMs: options.timeoutMs });
  }

  protected answerHead(): void {}

  protected answerData(bytes: Buffer): void {
    if (this.size + bytes.length <= maximumAnswerBytes) {
      this.size += bytes.length;
      this.chunks.push(bytes);
      return;
    }
    this.exchange?.abort();
    this.fail(new ConnectError(`${this.target.provider} upstream answer is larger than ${maximumAnswerBytes} bytes`, Code.Unavailable));
  }

  protected answerEnd(): void {
    if (this.settled) return;
    this.settled = true;
    this.detach();
    try {
      let json: unknown;
      try {
        json = JSON.parse(Buffer.concat(this.chunks, this.size).toString("utf8"));
      } catch {
        throw malformed(this.target, "the body is not JSON");
      }
      this.resolve(embedResponseFromOpenAI(json, this.target, this.request.inputs.length));
    } catch (error) {
      this.reject(upstreamFailure(error, this.target, this.call.signal));
    }
  }

  protected failed(error: ConnectError): void {
    this.reject(error);
  }
}

function embeddingsHttpRequest(request: EmbedRequest, target: ChatTarget): UpstreamRequest {
  const auth = target.apiKey === undefined ? undefined : { authorization: `Bearer ${target.apiKey}` };
  return jsonPost(endpointOf(target.baseUrl, "/embeddings"), target, JSON.stringify(embedRequestToOpenAI(request, target)), auth, "application/json");
}
