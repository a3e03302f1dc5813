import path from "node:path";
import test, { type ExecutionContext } from "ava";
import OpenAI from "openai";
import { OpenAIEmbeddings } from "@langchain/openai";
import { embed, embedMany } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { EmbedResponseSchema, InferenceService, type EmbedRequest } from "../gen/iir/inference/v1/inference_pb.js";
import type { ChatAdapter, ChatTarget } from "../services/router/adapters/adapter.js";
import { createMemoryCache } from "../services/router/cache/memory-cache.js";
import { createInferenceService } from "../services/router/inference-service.js";
import type { RouteCandidate } from "../services/router/routing/resolve-route.js";
import { tinyModel } from "./support/agent-fixtures.js";
import { fakeVector, startFakeEmbeddingsUpstream, type FakeEmbeddingsUpstream } from "./support/fake-openai-embeddings.js";
import { spawnIir, type IirProcess } from "./support/iir-process.js";
import { temporaryDirectory } from "./support/process-fixtures.js";

// POST /v1/embeddings end to end: `iir all` with the local agent (the tiny model) and a fake
// OpenAI-compatible upstream, reached by the official OpenAI SDK, LangChain and the AI SDK; the
// router's Embed over gRPC; and the router's candidate handling with fakes injected.

const local = "local/iir-tiny";
const hosted = "openai/text-embedding-3-small";

interface Stack {
  readonly facade: string;
  readonly router: string;
  readonly upstream: FakeEmbeddingsUpstream;
  readonly iir: IirProcess;
}

let stackPromise: Promise<Stack> | undefined;

/** One `iir all` (agent on the tiny model, cache on) and one fake upstream for the whole file. */
function stack(t: ExecutionContext): Promise<Stack> {
  stackPromise ??= (async () => {
    const upstream = await startFakeEmbeddingsUpstream();
    const directory = temporaryDirectory(t, "iir-embeddings-");
    const iir = spawnIir(["all"], {
      IIR_HOST: "127.0.0.1",
      IIR_FACADE_PORT: "0",
      IIR_ROUTER_PORT: "0",
      IIR_AGENT_PORT: "0",
      IIR_AGENT_MODEL: await tinyModel(),
      IIR_AGENT_THREADS: "2",
      IIR_AGENT_GPU: "false",
      SQLITE_DB_PATH: path.join(directory, "iir.db"),
      OPENAI_BASE_URL: upstream.baseUrl,
      EXTERNAL_OPENAI_KEY: "sk-test-embeddings",
      CACHE_TTL: "600",
    });
    const started = await iir.waitForLog("iir started", 60_000);
    return { facade: String(started.facade), router: `http://${String(started.router)}`, upstream, iir };
  })();
  return stackPromise;
}

test.after.always(async () => {
  if (stackPromise === undefined) return;
  const { iir, upstream } = await stackPromise;
  iir.kill("SIGKILL");
  await upstream.close();
});

/** A text no other test embeds, so the router's cache never answers for another test. */
function unique(label: string): string {
  return `${label} ${Math.random().toString(36).slice(2)}`;
}

function openai(facade: string): OpenAI {
  return new OpenAI({ baseURL: `${facade}/v1`, apiKey: "unused", maxRetries: 0 });
}

async function postEmbeddings(facade: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: Record<string, any> }> {
  const response = await fetch(`${facade}/v1/embeddings`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  return { status: response.status, headers: response.headers, json: (await response.json()) as Record<string, any> };
}

/** The upstream calls whose inputs hold `text` (tests in this file run at once and share the upstream). */
function callsWith(upstream: FakeEmbeddingsUpstream, text: string) {
  return upstream.embeddingCalls().filter((call) => ([] as unknown[]).concat(call.body.input).includes(text));
}

/** The float32 values JSON numbers stand for (the facade writes 9 significant digits). */
function float32(vector: readonly number[]): number[] {
  return vector.map(Math.fround);
}

function assertVector(t: ExecutionContext, vector: readonly number[], length: number): void {
  t.is(vector.length, length);
  t.true(vector.every(Number.isFinite), "every value is a finite number");
  t.true(vector.some((value) => value !== 0), "not all zeros");
}

test("the OpenAI SDK embeds with the local agent: floats, its default base64 decoded to the same float32 values, deterministic", async (t) => {
  const { facade } = await stack(t);
  const client = openai(facade);
  const texts = [unique("hello world"), unique("another text")];
  const floats = await client.embeddings.create({ model: local, input: texts, encoding_format: "float" });
  t.is(floats.object, "list");
  t.is(floats.model, local);
  t.deepEqual(floats.data.map((item) => [item.object, item.index]), [["embedding", 0], ["embedding", 1]]);
  for (const item of floats.data) assertVector(t, item.embedding, 64);
  t.notDeepEqual(floats.data[0]!.embedding, floats.data[1]!.embedding, "different texts, different vectors");
  t.true(floats.usage.prompt_tokens > texts.join("").length / 2, "usage counts the tokens of the inputs (byte tokens here)");
  t.is(floats.usage.total_tokens, floats.usage.prompt_tokens);

  // Without encoding_format the SDK asks for base64 and decodes little-endian float32 itself.
  const decoded = await client.embeddings.create({ model: local, input: texts }, { headers: { "cache-control": "no-cache" } });
  t.is(decoded.data.length, 2);
  for (const [index, item] of decoded.data.entries()) {
    t.deepEqual(item.embedding, floats.data[index]!.embedding.map(Math.fround), "base64 carries exactly the float32 values the floats name");
  }
  const again = await client.embeddings.create({ model: local, input: texts[0]!, encoding_format: "float" }, { headers: { "cache-control": "no-store" } });
  t.deepEqual(again.data[0]!.embedding, floats.data[0]!.embedding, "the same text gives the same vector, computed afresh");
});

test("the OpenAI SDK embeds through an OpenAI-compatible upstream: one call for the batch, in order, dimensions and user passed, usage mapped", async (t) => {
  const { facade, upstream } = await stack(t);
  const texts = Array.from({ length: 40 }, (_, index) => unique(`document ${index}`));
  const raw = await fetch(`${facade}/v1/embeddings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: hosted, input: texts, dimensions: 16, user: "user-42", encoding_format: "float" }),
  });
  t.is(raw.status, 200);
  t.is(raw.headers.get("x-iir-backend"), "openai");
  t.is(raw.headers.get("x-iir-cache"), "miss");
  const body = (await raw.json()) as { data: Array<{ index: number; embedding: number[] }>; model: string; usage: { prompt_tokens: number; total_tokens: number } };
  const calls = callsWith(upstream, texts[0]!);
  t.is(calls.length, 1, "40 inputs, one upstream call");
  const sent = calls[0]!;
  t.is(sent.body.model, "text-embedding-3-small");
  t.deepEqual(sent.body.input, texts);
  t.is(sent.body.dimensions, 16);
  t.is(sent.body.user, "user-42");
  t.is(sent.body.encoding_format, "float");
  t.is(sent.headers.authorization, "Bearer sk-test-embeddings");
  t.deepEqual(body.data.map((item) => item.index), texts.map((_, index) => index), "in input order, though the upstream answered in reverse");
  for (const [index, item] of body.data.entries()) t.deepEqual(float32(item.embedding), fakeVector(texts[index]!, 16));
  t.is(body.model, "text-embedding-3-small-2026", "the model the upstream reported");
  t.is(body.usage.prompt_tokens, 120, "the upstream's count: three words an input");
  t.is(body.usage.total_tokens, 120);

  const sdk = await openai(facade).embeddings.create({ model: hosted, input: texts[0]! });
  t.deepEqual(sdk.data[0]!.embedding, fakeVector(texts[0]!, 8), "the SDK's default base64 decodes to the upstream's floats");
});

test("a repeated request is answered from the cache: the upstream sees one call, the answer is the same", async (t) => {
  const { facade, upstream } = await stack(t);
  const request = { model: hosted, input: [unique("cache me"), unique("and me")] };
  const first = await postEmbeddings(facade, request);
  const second = await postEmbeddings(facade, request);
  t.is(first.headers.get("x-iir-cache"), "miss");
  t.is(second.headers.get("x-iir-cache"), "hit");
  t.is(second.headers.get("x-iir-backend"), "openai");
  t.is(callsWith(upstream, request.input[0]!).length, 1, "the upstream was called once");
  t.deepEqual(second.json, first.json);
  const base64 = await postEmbeddings(facade, { ...request, encoding_format: "base64" });
  t.is(base64.headers.get("x-iir-cache"), "hit", "the encoding is the facade's: it shares the cached answer");
  const other = await postEmbeddings(facade, { ...request, dimensions: 4 });
  t.is(other.headers.get("x-iir-cache"), "miss", "other dimensions, another answer");
  t.is(callsWith(upstream, request.input[0]!).length, 2);
});

test("LangChain's OpenAIEmbeddings: embedQuery and embedDocuments with the local agent and the upstream", async (t) => {
  const { facade } = await stack(t);
  for (const model of [local, hosted]) {
    const embeddings = new OpenAIEmbeddings({ model, configuration: { baseURL: `${facade}/v1` }, apiKey: "unused", maxRetries: 0 });
    const query = unique("what is a gateway");
    const vector = await embeddings.embedQuery(query);
    assertVector(t, vector, model === local ? 64 : 8);
    const documents = [unique("first doc"), unique("second doc"), unique("third doc")];
    const vectors = await embeddings.embedDocuments(documents);
    t.is(vectors.length, 3);
    for (const item of vectors) assertVector(t, item, vector.length);
    if (model === hosted) t.deepEqual(float32(vectors[1]!), fakeVector(documents[1]!, 8), "each document got its own vector, in order");
  }
});

test("the AI SDK's embed and embedMany through createOpenAI({ baseURL })", async (t) => {
  const { facade } = await stack(t);
  const provider = createOpenAI({ baseURL: `${facade}/v1`, apiKey: "unused" });
  for (const model of [local, hosted]) {
    const single = await embed({ model: provider.embedding(model), value: unique("sunny day"), maxRetries: 0 });
    assertVector(t, single.embedding, model === local ? 64 : 8);
    t.true(single.usage.tokens > 0);
    const values = [unique("one"), unique("two"), unique("three")];
    const many = await embedMany({ model: provider.embedding(model), values, maxRetries: 0 });
    t.is(many.embeddings.length, 3);
    if (model === hosted) t.deepEqual(many.embeddings.map(float32), values.map((value) => fakeVector(value, 8)));
    else t.notDeepEqual(many.embeddings[0], many.embeddings[1]);
  }
});

test("bad input is a 400 in OpenAI's shape; an unknown model 404; an upstream's own error passes through", async (t) => {
  const { facade } = await stack(t);
  const cases: Array<[unknown, number, string | null, string | null]> = [
    [{ model: local, input: [[1, 2, 3]] }, 400, "input[0]", "unsupported_value"],
    [{ model: local, input: [1, 2, 3] }, 400, "input", "unsupported_value"],
    [{ model: local, input: [] }, 400, "input", "empty_array"],
    [{ model: local, input: "" }, 400, "input", "empty_string"],
    [{ model: local, input: ["ok", ""] }, 400, "input[1]", "empty_string"],
    [{ model: local }, 400, "input", "missing_required_parameter"],
    [{ input: "x" }, 400, "model", "missing_required_parameter"],
    [{ model: local, input: "x", encoding_format: "int8" }, 400, "encoding_format", "invalid_value"],
    [{ model: local, input: "x", dimensions: 0 }, 400, "dimensions", "integer_below_min_value"],
    [{ model: local, input: Array.from({ length: 2049 }, () => "x") }, 400, "input", "array_above_max_length"],
    [{ model: local, input: "x".repeat(1024 * 1024 + 1) }, 400, "input", "string_above_max_length"],
    [{ model: "no-such-model", input: "x" }, 404, null, "model_not_found"],
    [{ model: "openai/fail-400", input: "x" }, 400, "input", null],
  ];
  for (const [body, status, param, code] of cases) {
    const answer = await postEmbeddings(facade, body);
    const label = JSON.stringify(body).slice(0, 80);
    t.is(answer.status, status, label);
    t.is(answer.json.error?.type, status === 404 || status === 400 ? "invalid_request_error" : answer.json.error?.type, label);
    t.is(answer.json.error?.param, param, label);
    t.is(answer.json.error?.code, code, label);
    t.is(typeof answer.json.error?.message, "string", label);
  }
  const tokenIds = await postEmbeddings(facade, { model: local, input: [[1, 2]] });
  t.regex(tokenIds.json.error.message, /token ids are not supported/);

  const limited = await postEmbeddings(facade, { model: "openai/fail-429", input: unique("x") });
  t.is(limited.status, 429);
  t.is(limited.headers.get("retry-after"), "7");
  t.is(limited.json.error.code, "rate_limit_exceeded");

  const tooLong = await postEmbeddings(facade, { model: local, input: "a".repeat(5000) });
  t.is(tooLong.status, 400);
  t.is(tooLong.json.error.code, "context_length_exceeded");
  const dimensions = await postEmbeddings(facade, { model: local, input: "x", dimensions: 8 });
  t.is(dimensions.status, 400);
  t.regex(dimensions.json.error.message, /64 dimensions/);
  t.is(dimensions.json.error.param, "dimensions");

  const huge = await fetch(`${facade}/v1/embeddings`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: local, input: "x".repeat(5 * 1024 * 1024) }) });
  t.is(huge.status, 413, "a body over the facade's limit");
});

test("the OpenAI SDK sees errors as its own error classes", async (t) => {
  const { facade } = await stack(t);
  const client = openai(facade);
  const notFound = await t.throwsAsync(client.embeddings.create({ model: "nope/nothing", input: "x" }));
  t.true(notFound instanceof OpenAI.NotFoundError);
  const bad = await t.throwsAsync(client.embeddings.create({ model: local, input: [[1, 2]] as never }));
  t.true(bad instanceof OpenAI.BadRequestError);
  t.is((bad as InstanceType<typeof OpenAI.BadRequestError>).param, "input[0]");
});

test("embeddings on the local model while it generates: both answer, the generation is what it is alone", async (t) => {
  const { facade } = await stack(t);
  const client = openai(facade);
  const chat = () => client.chat.completions.create({ model: local, messages: [{ role: "user", content: "count" }], max_tokens: 24, temperature: 0 });
  const alone = await chat();
  const texts = Array.from({ length: 8 }, (_, index) => unique(`parallel ${index}`));
  const [beside, ...vectors] = await Promise.all([
    chat(),
    ...texts.map((text) => client.embeddings.create({ model: local, input: text, encoding_format: "float" }, { headers: { "cache-control": "no-store" } })),
  ]);
  t.is(beside.choices[0]!.message.content, alone.choices[0]!.message.content);
  for (const answer of vectors) assertVector(t, answer.data[0]!.embedding, 64);
  const separate = await client.embeddings.create({ model: local, input: texts, encoding_format: "float" }, { headers: { "cache-control": "no-store" } });
  t.deepEqual(separate.data.map((item) => item.embedding), vectors.map((answer) => answer.data[0]!.embedding), "one at a time or batched: the same vectors");
});

test("gRPC: the router's Embed answers a Connect gRPC client, and tells it the cache result", async (t) => {
  const { router, upstream } = await stack(t);
  const client = createClient(InferenceService, createGrpcTransport({ baseUrl: router }));
  const inputs = [unique("grpc one"), unique("grpc two")];
  const seen: { cache?: string | null } = {};
  const answer = await client.embed({ model: hosted, inputs, dimensions: 4 }, { onHeader: (headers) => void (seen.cache = headers.get("iir-cache")) });
  t.is(seen.cache, "miss");
  t.is(answer.backend, "openai");
  t.deepEqual(answer.embeddings.map((embedding) => embedding.index), [0, 1]);
  t.deepEqual(answer.embeddings[1]!.values, fakeVector(inputs[1]!, 4));
  t.is(answer.usage?.promptTokens, 6);
  t.is(callsWith(upstream, inputs[0]!)[0]!.body.dimensions, 4);

  const fromAgent = await client.embed({ model: local, inputs: [unique("local via grpc")] });
  t.is(fromAgent.embeddings[0]!.values.length, 64);
  t.false(fromAgent.cached);
  const cachedAnswer = await client.embed({ model: hosted, inputs, dimensions: 4 });
  t.true(cachedAnswer.cached);

  const invalid = await t.throwsAsync(client.embed({ model: local, inputs: [] }));
  t.is(ConnectError.from(invalid).code, Code.InvalidArgument);
  const unknown = await t.throwsAsync(client.embed({ model: "no-such-model", inputs: ["x"] }));
  t.is(ConnectError.from(unknown).code, Code.NotFound);
});

// The router's Embed with fakes injected through its constructor.

function candidate(backend: string, adapter: Partial<ChatAdapter>): RouteCandidate {
  const target: ChatTarget = { backend, provider: backend, baseUrl: "http://127.0.0.1:9", apiKey: undefined, upstreamModel: "m" };
  const chatOnly: ChatAdapter = {
    chat: () => Promise.reject(new Error("not in this test")),
    chatStream: () => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error("not in this test")) }) }),
  };
  return { adapter: { ...chatOnly, ...adapter }, target };
}

function answerFor(request: EmbedRequest, backend: string) {
  return create(EmbedResponseSchema, { model: "m", embeddings: request.inputs.map((text, index) => ({ index, values: [text.length, index] })), usage: { promptTokens: 3, totalTokens: 3 }, backend });
}

function routerClient(candidates: () => RouteCandidate[], withCache = false) {
  const service = createInferenceService({
    resolver: { resolve: () => candidates() },
    listModels: () => [],
    cache: withCache ? { store: createMemoryCache({ maxEntries: 100, maxBytes: 1 << 20 }), ttlSeconds: 60 } : undefined,
  });
  return createClient(InferenceService, createRouterTransport((router) => router.service(InferenceService, service)));
}

test("router: a chat-only backend answers Unimplemented naming the model", async (t) => {
  const client = routerClient(() => [candidate("anthropic", {})]);
  const error = ConnectError.from(await t.throwsAsync(client.embed({ model: "anthropic/claude-x", inputs: ["x"] })));
  t.is(error.code, Code.Unimplemented);
  t.regex(error.rawMessage, /model "anthropic\/claude-x" does not serve embeddings/);
});

test("router: a retryable failure falls back to the next candidate; a client error does not", async (t) => {
  let secondCalls = 0;
  const second = candidate("second", { embed: async (request) => (secondCalls++, answerFor(request, "")) });
  const down = candidate("first", { embed: () => Promise.reject(new ConnectError("down", Code.Unavailable)) });
  const answer = await routerClient(() => [down, second]).embed({ model: "m", inputs: ["a", "bb"] });
  t.is(answer.backend, "second", "the backend that answered, filled in by the router");
  t.deepEqual(answer.embeddings.map((embedding) => embedding.values), [[1, 0], [2, 1]]);

  const refused = candidate("first", { embed: () => Promise.reject(new ConnectError("bad input", Code.InvalidArgument)) });
  const error = ConnectError.from(await t.throwsAsync(routerClient(() => [refused, second]).embed({ model: "m", inputs: ["a"] })));
  t.is(error.code, Code.InvalidArgument);
  t.is(secondCalls, 1, "no fallback after the client's own error");

  const short = candidate("short", { embed: async (request) => answerFor({ ...request, inputs: request.inputs.slice(1) }, "short") });
  const mismatch = ConnectError.from(await t.throwsAsync(routerClient(() => [short]).embed({ model: "m", inputs: ["a", "b"] })));
  t.is(mismatch.code, Code.Unavailable, "a backend that lost an input is a failed backend");
});

test("router: the cache answers a repeat, keyed by inputs and dimensions, never by user", async (t) => {
  let calls = 0;
  const backend = candidate("b", { embed: async (request) => (calls++, answerFor(request, "b")) });
  const client = routerClient(() => [backend], true);
  const headers: string[] = [];
  const call = (init: { inputs: string[]; dimensions?: number; user?: string }) =>
    client.embed({ model: "m", ...init }, { onHeader: (received) => void headers.push(received.get("iir-cache") ?? "") });
  await call({ inputs: ["a", "b"] });
  const hit = await call({ inputs: ["a", "b"], user: "someone" });
  t.true(hit.cached);
  t.is(hit.backend, "b");
  t.deepEqual(hit.embeddings.map((embedding) => embedding.values), [[1, 0], [1, 1]]);
  await call({ inputs: ["b", "a"] });
  await call({ inputs: ["a", "b"], dimensions: 2 });
  t.deepEqual(headers, ["miss", "hit", "miss", "miss"]);
  t.is(calls, 3);
});
