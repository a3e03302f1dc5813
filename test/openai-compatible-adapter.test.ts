import http from "node:http";
import type { AddressInfo } from "node:net";
import test, { type ExecutionContext } from "ava";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  ChatParamsSchema,
  FinishReason,
  Role,
  type ChatParams,
  type ChatStreamResponse,
} from "../gen/iir/inference/v1/inference_pb.js";
import { findUpstreamError } from "../services/common/errors.js";
import type { ChatTarget } from "../services/router/adapters/adapter.js";
import { createOpenAICompatibleAdapter } from "../services/router/adapters/openai-compatible/openai-compatible-adapter.js";
import { startFakeUpstream, type FakeUpstream, type FakeUpstreamOptions } from "./support/fake-openai-upstream.js";

const apiKey = "sk-test-0123456789abcdef";
const weatherTool = {
  type: "function",
  function: { name: "get_weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string" } } } },
};

/** A fake upstream, closed when the test ends, and the adapter pointed at it. */
async function setUp(t: ExecutionContext, options: FakeUpstreamOptions = {}, timeoutMs = 5_000) {
  const upstream = await startFakeUpstream(options);
  t.teardown(() => upstream.close());
  const adapter = createOpenAICompatibleAdapter({ timeoutMs });
  return { upstream, adapter, target: targetFor(upstream) };
}

function targetFor(upstream: Pick<FakeUpstream, "baseUrl">, upstreamModel = "gpt-fake"): ChatTarget {
  return { backend: "openai", provider: "openai", baseUrl: upstream.baseUrl, apiKey, upstreamModel };
}

function paramsWith(init: MessageInitShape<typeof ChatParamsSchema> = {}): ChatParams {
  return create(ChatParamsSchema, {
    model: "openai/gpt-fake",
    messages: [
      { role: Role.SYSTEM, content: { case: "text", value: "Be brief." } },
      { role: Role.USER, content: { case: "text", value: "hello world" } },
    ],
    ...init,
  });
}

function userSays(text: string): MessageInitShape<typeof ChatParamsSchema>["messages"] {
  return [{ role: Role.USER, content: { case: "text", value: text } }];
}

async function collect(stream: AsyncIterable<ChatStreamResponse>): Promise<ChatStreamResponse[]> {
  const parts: ChatStreamResponse[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

/** Reads a stream until it fails; returns what arrived before and the error. */
async function collectUntilFailure(stream: AsyncIterable<ChatStreamResponse>): Promise<{ parts: ChatStreamResponse[]; error: ConnectError }> {
  const parts: ChatStreamResponse[] = [];
  try {
    for await (const part of stream) parts.push(part);
  } catch (error) {
    if (!(error instanceof ConnectError)) throw error;
    return { parts, error };
  }
  throw new Error("expected the stream to fail");
}

async function failureOf(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ConnectError) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

function textOf(parts: readonly ChatStreamResponse[], choiceIndex = 0): string {
  return parts.map((part) => (part.event.case === "text" && part.choiceIndex === choiceIndex ? part.event.value.text : "")).join("");
}

function kindsOf(parts: readonly ChatStreamResponse[]): string[] {
  return parts.map((part) => part.event.case ?? "none").filter((kind, position, all) => position === 0 || all[position - 1] !== kind);
}

function neverEchoesKey(t: ExecutionContext, error: ConnectError): void {
  t.false(error.message.includes(apiKey), `the key leaked into: ${error.message}`);
  t.false(JSON.stringify(findUpstreamError(error) ?? {}).includes(apiKey));
}

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test("a whole answer: text, finish, usage and ids come back; the request goes out as OpenAI JSON with the key as Bearer", async (t) => {
  const { upstream, adapter, target } = await setUp(t);
  const response = await adapter.chat(paramsWith({ temperature: 0.5 }), target, AbortSignal.timeout(10_000));

  const [choice] = response.choices;
  t.is(choice?.message?.content.case, "text");
  t.is(choice?.message?.content.value, "echo: hello world");
  t.is(choice?.message?.role, Role.ASSISTANT);
  t.is(choice?.finishReason, FinishReason.STOP);
  t.is(response.model, "gpt-fake");
  t.regex(response.id, /^chatcmpl-/);
  t.true(response.created > 1_600_000_000n, "created is the upstream's unix time");
  t.is(response.backend, "openai");
  t.like(response.usage, { promptTokens: 4, completionTokens: 3, totalTokens: 7 });

  const request = upstream.lastRequest();
  t.is(request.method, "POST");
  t.is(request.path, "/v1/chat/completions");
  t.is(request.headers.authorization, `Bearer ${apiKey}`);
  t.regex(request.headers["content-type"] ?? "", /application\/json/);
  t.like(request.body, { model: "gpt-fake", temperature: 0.5 });
  t.false("stream" in request.body, "a unary call does not ask for a stream");
  t.deepEqual(request.body.messages, [
    { role: "system", content: "Be brief." },
    { role: "user", content: "hello world" },
  ]);
});

test("a stream: text deltas, then the finish, then usage; usage is always asked for", async (t) => {
  const { upstream, adapter, target } = await setUp(t);
  const parts = await collect(adapter.chatStream(paramsWith(), target, AbortSignal.timeout(10_000)));

  t.is(textOf(parts), "echo: hello world");
  t.deepEqual(kindsOf(parts), ["text", "finish", "usage"]);
  const finish = parts.find((part) => part.event.case === "finish");
  t.is(finish?.event.case === "finish" ? finish.event.value.reason : undefined, FinishReason.STOP);
  const usage = parts.at(-1);
  t.like(usage?.event.case === "usage" ? usage.event.value : undefined, { promptTokens: 4, completionTokens: 3, totalTokens: 7 });
  t.true(parts.every((part) => part.backend === "openai" && part.model === "gpt-fake" && !part.cached));

  const { body } = upstream.lastRequest();
  t.is(body.stream, true);
  t.deepEqual(body.stream_options, { include_usage: true });
});

test("streams survive any framing: odd write boundaries, CRLF, CR-only, keep-alive comments, split UTF-8", async (t) => {
  const { upstream, adapter, target } = await setUp(t);
  const text = "héllo wörld — 日本語 🎉 done";
  const wires = [
    { lineEnding: "\r\n", writeSizes: [1, 3, 2, 7, 5, 13, 11], keepAliveComments: true },
    { lineEnding: "\r", writeSizes: [2, 1, 4] },
    { lineEnding: "\n", writeSizes: [3, 1], delayMs: 0 },
  ] as const;
  for (const wire of wires) {
    upstream.script({ kind: "answer", wire });
    const parts = await collect(adapter.chatStream(paramsWith({ messages: userSays(text) }), target, AbortSignal.timeout(10_000)));
    t.is(textOf(parts), `echo: ${text}`, JSON.stringify(wire));
    t.deepEqual(kindsOf(parts), ["text", "finish", "usage"], JSON.stringify(wire));
  }
});

test("the wire-stress model name gives the same answer as a plain stream", async (t) => {
  const { adapter, upstream } = await setUp(t);
  const parts = await collect(adapter.chatStream(paramsWith(), targetFor(upstream, "wire-stress"), AbortSignal.timeout(10_000)));
  t.is(textOf(parts), "echo: hello world");
});

test("streamed tool calls arrive as deltas that build the call: id and name first, then argument pieces", async (t) => {
  const { upstream, adapter, target } = await setUp(t);
  const params = paramsWith({ tools: [weatherTool], toolChoice: { choice: { case: "mode", value: "auto" } }, messages: userSays("Paris") });
  const parts = await collect(adapter.chatStream(params, target, AbortSignal.timeout(10_000)));

  const deltas = parts.flatMap((part) => (part.event.case === "toolCall" ? [part.event.value] : []));
  t.true(deltas.length > 2, "the arguments came in several pieces");
  t.like(deltas[0], { index: 0, type: "function", name: "get_weather" });
  t.regex(deltas[0]?.id ?? "", /^call_/);
  t.true(deltas.slice(1).every((delta) => delta.index === 0 && delta.id === "" && delta.name === ""));
  t.deepEqual(JSON.parse(deltas.map((delta) => delta.arguments).join("")), { echo: "Paris" });
  const finish = parts.find((part) => part.event.case === "finish");
  t.is(finish?.event.case === "finish" ? finish.event.value.reason : undefined, FinishReason.TOOL_CALLS);

  const { body } = upstream.lastRequest();
  t.deepEqual(body.tools, [weatherTool]);
  t.is(body.tool_choice, "auto");
});

test("parallel streamed tool calls keep their own index", async (t) => {
  const { upstream, adapter } = await setUp(t);
  const secondTool = { type: "function", function: { name: "get_time", parameters: { type: "object" } } };
  const params = paramsWith({ tools: [weatherTool, secondTool], messages: userSays("Oslo") });
  const parts = await collect(adapter.chatStream(params, targetFor(upstream, "parallel-tool-calls"), AbortSignal.timeout(10_000)));
  const deltas = parts.flatMap((part) => (part.event.case === "toolCall" ? [part.event.value] : []));
  const names = deltas.filter((delta) => delta.name !== "").map((delta) => [delta.index, delta.name]);
  t.deepEqual(names, [
    [0, "get_weather"],
    [1, "get_time"],
  ]);
  for (const index of [0, 1]) {
    const argumentsText = deltas.filter((delta) => delta.index === index).map((delta) => delta.arguments).join("");
    t.deepEqual(JSON.parse(argumentsText), { echo: "Oslo" });
  }
});

test("a whole tool-call answer: calls with id, name and JSON arguments; forced function choice is sent", async (t) => {
  const { upstream, adapter, target } = await setUp(t);
  const params = paramsWith({ tools: [weatherTool], toolChoice: { choice: { case: "functionName", value: "get_weather" } }, messages: userSays("Rome") });
  const response = await adapter.chat(params, target, AbortSignal.timeout(10_000));
  const [choice] = response.choices;
  t.is(choice?.finishReason, FinishReason.TOOL_CALLS);
  t.is(choice?.message?.toolCalls.length, 1);
  const call = choice?.message?.toolCalls[0];
  t.is(call?.function?.name, "get_weather");
  t.deepEqual(JSON.parse(call?.function?.arguments ?? ""), { echo: "Rome" });
  t.regex(call?.id ?? "", /^call_/);
  t.deepEqual(upstream.lastRequest().body.tool_choice, { type: "function", function: { name: "get_weather" } });
});

test("n > 1: each choice's deltas carry their choice index", async (t) => {
  const { adapter, target } = await setUp(t);
  const parts = await collect(adapter.chatStream(paramsWith({ n: 2 }), target, AbortSignal.timeout(10_000)));
  t.is(textOf(parts, 0), "echo: hello world");
  t.is(textOf(parts, 1), "echo: hello world");
  t.is(parts.filter((part) => part.event.case === "finish").length, 2);
});

test("fields without a typed home are forwarded untouched, and typed fields win over extras", async (t) => {
  const { upstream, adapter, target } = await setUp(t);
  const params = paramsWith({
    maxTokens: 64,
    seed: 7n,
    stop: ["\n\n"],
    user: "user-42",
    responseFormat: { type: "json_object" },
    extra: { logit_bias: { "50256": -100 }, logprobs: true, provider: { order: ["a", "b"] }, model: "sneaky", stream: true },
    messages: [{ role: Role.USER, content: { case: "text", value: "hi" }, name: "ann", extra: { cache_control: { type: "ephemeral" } } }],
  });
  await adapter.chat(params, target, AbortSignal.timeout(10_000));
  const { body } = upstream.lastRequest();
  t.like(body, {
    model: "gpt-fake",
    max_tokens: 64,
    seed: 7,
    stop: ["\n\n"],
    user: "user-42",
    response_format: { type: "json_object" },
    logit_bias: { "50256": -100 },
    logprobs: true,
    provider: { order: ["a", "b"] },
  });
  t.false("stream" in body, "an extra cannot turn a unary call into a stream");
  t.deepEqual(body.messages, [{ role: "user", content: "hi", name: "ann", cache_control: { type: "ephemeral" } }]);
});

const statusCases = [
  { model: "fail-400", status: 400, code: Code.InvalidArgument, type: "invalid_request_error", param: "messages", upstreamCode: "invalid_value" },
  { model: "fail-401", status: 401, code: Code.Unauthenticated, type: "invalid_request_error", param: "", upstreamCode: "invalid_api_key" },
  { model: "fail-403", status: 403, code: Code.PermissionDenied, type: "invalid_request_error", param: "", upstreamCode: "unsupported_country_region_territory" },
  { model: "fail-404", status: 404, code: Code.NotFound, type: "invalid_request_error", param: "", upstreamCode: "model_not_found" },
  { model: "fail-429", status: 429, code: Code.ResourceExhausted, type: "requests", param: "", upstreamCode: "rate_limit_exceeded" },
  { model: "fail-500", status: 500, code: Code.Unavailable, type: "server_error", param: "", upstreamCode: "" },
  { model: "fail-503", status: 503, code: Code.Unavailable, type: "server_error", param: "", upstreamCode: "" },
] as const;

for (const mode of ["chat", "chatStream"] as const) {
  test(`${mode}: upstream error statuses become Connect codes carrying the provider's own error`, async (t) => {
    const { upstream, adapter } = await setUp(t);
    for (const expected of statusCases) {
      const target = targetFor(upstream, expected.model);
      const call = mode === "chat" ? adapter.chat(paramsWith(), target, AbortSignal.timeout(10_000)) : collect(adapter.chatStream(paramsWith(), target, AbortSignal.timeout(10_000)));
      const error = await failureOf(call);
      t.is(error.code, expected.code, expected.model);
      const detail = findUpstreamError(error);
      t.like(detail, { httpStatus: expected.status, type: expected.type, param: expected.param, code: expected.upstreamCode, provider: "openai" }, expected.model);
      t.is(detail?.message, error.rawMessage, "the message is the provider's");
      neverEchoesKey(t, error);
    }
    t.regex(findUpstreamError(await failureOf(adapter.chat(paramsWith(), targetFor(upstream, "fail-404"), AbortSignal.timeout(10_000))))?.message ?? "", /The model `fail-404` does not exist/);
  });
}

test("a 401 that echoes the key is redacted; the rest of the provider's message stays", async (t) => {
  const { upstream, adapter } = await setUp(t);
  const error = await failureOf(adapter.chat(paramsWith(), targetFor(upstream, "fail-401"), AbortSignal.timeout(10_000)));
  t.regex(error.rawMessage, /^Incorrect API key provided: \[redacted\]\. You can find your API key/);
  neverEchoesKey(t, error);
});

test("a 429's retry-after reaches the error, so the facade can pass it on", async (t) => {
  const { upstream, adapter } = await setUp(t);
  const error = await failureOf(adapter.chat(paramsWith(), targetFor(upstream, "fail-429"), AbortSignal.timeout(10_000)));
  t.is(error.code, Code.ResourceExhausted);
  t.is(error.metadata.get("retry-after"), "7");
});

test("an HTML error page becomes Unavailable quoting the page, not a parse failure", async (t) => {
  const { upstream, adapter } = await setUp(t);
  for (const call of [
    adapter.chat(paramsWith(), targetFor(upstream, "fail-html"), AbortSignal.timeout(10_000)),
    collect(adapter.chatStream(paramsWith(), targetFor(upstream, "fail-html"), AbortSignal.timeout(10_000))),
  ]) {
    const error = await failureOf(call);
    t.is(error.code, Code.Unavailable);
    t.like(findUpstreamError(error), { httpStatus: 502, type: "" });
    t.regex(error.rawMessage, /502 Bad Gateway/);
  }
});

test("an error body in another shape still gives the provider's message", async (t) => {
  const { upstream, adapter, target } = await setUp(t);
  upstream.script({ kind: "error", status: 422, body: JSON.stringify({ error: "messages: field required" }), contentType: "application/json" });
  const error = await failureOf(adapter.chat(paramsWith(), target, AbortSignal.timeout(10_000)));
  t.is(error.code, Code.InvalidArgument);
  t.is(error.rawMessage, "messages: field required");
});

test("a connection dropped mid-stream is Unavailable, after the text that did arrive", async (t) => {
  const { upstream, adapter } = await setUp(t);
  const { parts, error } = await collectUntilFailure(adapter.chatStream(paramsWith(), targetFor(upstream, "drop-mid-stream"), AbortSignal.timeout(10_000)));
  t.is(textOf(parts), "echo:");
  t.false(parts.some((part) => part.event.case === "finish"));
  t.is(error.code, Code.Unavailable);
  t.regex(error.rawMessage, /dropped|closed/);
});

test("a connection dropped mid-answer (non-stream) is Unavailable", async (t) => {
  const { upstream, adapter } = await setUp(t);
  const error = await failureOf(adapter.chat(paramsWith(), targetFor(upstream, "drop-mid-stream"), AbortSignal.timeout(10_000)));
  t.is(error.code, Code.Unavailable);
});

test("a stream that just ends without finish or [DONE] is Unavailable, not a silently short answer", async (t) => {
  const { upstream, adapter, target } = await setUp(t);
  const chunk = (content: string) => `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}]}\n\n`;
  upstream.script({ kind: "raw", chunks: [chunk("Hel"), chunk("lo")] });
  const { parts, error } = await collectUntilFailure(adapter.chatStream(paramsWith(), target, AbortSignal.timeout(10_000)));
  t.is(textOf(parts), "Hello");
  t.is(error.code, Code.Unavailable);
  t.regex(error.rawMessage, /before it finished/);
});

test("a stream whose last event has no trailing blank line still delivers it", async (t) => {
  const { upstream, adapter, target } = await setUp(t);
  upstream.script({
    kind: "raw",
    chunks: [
      'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n',
      'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}',
    ],
  });
  const parts = await collect(adapter.chatStream(paramsWith(), target, AbortSignal.timeout(10_000)));
  t.is(textOf(parts), "Hi");
  const finish = parts.at(-1);
  t.is(finish?.event.case === "finish" ? finish.event.value.reason : undefined, FinishReason.LENGTH);
});

test("an error event mid-stream fails the stream with the upstream's message", async (t) => {
  const { upstream, adapter, target } = await setUp(t);
  const scripted = await collectUntilFailure(adapter.chatStream(paramsWith(), targetFor(upstream, "error-mid-stream"), AbortSignal.timeout(10_000)));
  t.is(textOf(scripted.parts), "echo:");
  t.is(scripted.error.code, Code.Unavailable);
  t.is(scripted.error.rawMessage, "The server had an error while processing your request. Sorry about that!");
  t.like(findUpstreamError(scripted.error), { type: "server_error", provider: "openai" });

  upstream.script({ kind: "error-mid-stream", afterChunks: 1, error: { message: "Rate limit exceeded: free-models-per-min", type: "", param: null, code: "429" } });
  const rateLimited = await collectUntilFailure(adapter.chatStream(paramsWith(), target, AbortSignal.timeout(10_000)));
  t.is(rateLimited.error.code, Code.ResourceExhausted, "OpenRouter's numeric code is its HTTP status");
  t.is(rateLimited.error.rawMessage, "Rate limit exceeded: free-models-per-min");
  t.like(findUpstreamError(rateLimited.error), { httpStatus: 429 });
});

test("a 200 whose body is an error object fails the whole answer with that message", async (t) => {
  const { upstream, adapter } = await setUp(t);
  const error = await failureOf(adapter.chat(paramsWith(), targetFor(upstream, "error-mid-stream"), AbortSignal.timeout(10_000)));
  t.is(error.rawMessage, "The server had an error while processing your request. Sorry about that!");
  t.is(error.code, Code.Unavailable);
});

test("a 200 error body that echoes the key is redacted too", async (t) => {
  const { upstream, adapter, target } = await setUp(t);
  const body = JSON.stringify({ error: { message: `key ${apiKey} has no credits`, type: "insufficient_quota", param: null, code: "insufficient_quota" } });
  upstream.script({ kind: "custom", handle: (_request, response) => void response.writeHead(200, { "content-type": "application/json" }).end(body) });
  const error = await failureOf(adapter.chat(paramsWith(), target, AbortSignal.timeout(10_000)));
  t.is(error.code, Code.ResourceExhausted);
  t.is(error.rawMessage, "key [redacted] has no credits");
  neverEchoesKey(t, error);
});

test("a stream is complete at [DONE] even if the upstream never ends the body; the idle connection is closed later", async (t) => {
  const { upstream, adapter, target } = await setUp(t, {}, 300);
  const chunk = '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}';
  upstream.script({ kind: "custom", handle: (_request, response) => void response.writeHead(200, { "content-type": "text/event-stream" }).write(`data: ${chunk}\n\ndata: [DONE]\n\n`) });
  const parts = await collect(adapter.chatStream(paramsWith(), target, AbortSignal.timeout(10_000)));
  t.is(textOf(parts), "Hi");
  await upstream.whenClosedByClient(1);
});

test("malformed answers are Unavailable: a non-JSON body, a non-JSON stream event", async (t) => {
  const { upstream, adapter, target } = await setUp(t);
  upstream.script({ kind: "custom", handle: (_request, response) => void response.writeHead(200, { "content-type": "application/json" }).end("not json") });
  const whole = await failureOf(adapter.chat(paramsWith(), target, AbortSignal.timeout(10_000)));
  t.is(whole.code, Code.Unavailable);
  t.regex(whole.rawMessage, /malformed/);

  upstream.script({ kind: "raw", chunks: ["data: {not json\n\n"] });
  const streamed = await failureOf(collect(adapter.chatStream(paramsWith(), target, AbortSignal.timeout(10_000))));
  t.is(streamed.code, Code.Unavailable);
  t.regex(streamed.rawMessage, /malformed/);
});

test("aborting the signal mid-stream cancels and the upstream sees the connection closed", async (t) => {
  const { upstream, adapter } = await setUp(t);
  const controller = new AbortController();
  const parts: ChatStreamResponse[] = [];
  const error = await failureOf(
    (async () => {
      for await (const part of adapter.chatStream(paramsWith(), targetFor(upstream, "hang-mid-stream"), controller.signal)) {
        parts.push(part);
        if (textOf(parts) === "echo:") controller.abort();
      }
    })(),
  );
  t.is(error.code, Code.Canceled);
  await upstream.whenClosedByClient(1);
  t.true(upstream.lastRequest().closedByClient);
});

test("aborting while waiting for the answer cancels a unary call and closes the upstream connection", async (t) => {
  const { upstream, adapter } = await setUp(t);
  const controller = new AbortController();
  const call = adapter.chat(paramsWith(), targetFor(upstream, "hang"), controller.signal);
  while (upstream.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  controller.abort();
  t.is((await failureOf(call)).code, Code.Canceled);
  await upstream.whenClosedByClient(1);
});

test("leaving a stream early (the caller stops reading) closes the upstream connection", async (t) => {
  const { upstream, adapter } = await setUp(t);
  for await (const part of adapter.chatStream(paramsWith(), targetFor(upstream, "hang-mid-stream"), new AbortController().signal)) {
    if (part.event.case === "text") break;
  }
  await upstream.whenClosedByClient(1);
  t.is(upstream.closedByClient, 1);
});

test("an upstream silent past the timeout is DeadlineExceeded, before headers and between chunks", async (t) => {
  const { upstream, adapter } = await setUp(t, {}, 200);
  const beforeHeaders = await failureOf(adapter.chat(paramsWith(), targetFor(upstream, "hang"), new AbortController().signal));
  t.is(beforeHeaders.code, Code.DeadlineExceeded);
  neverEchoesKey(t, beforeHeaders);

  const { parts, error } = await collectUntilFailure(adapter.chatStream(paramsWith(), targetFor(upstream, "hang-mid-stream"), new AbortController().signal));
  t.is(textOf(parts), "echo:");
  t.is(error.code, Code.DeadlineExceeded);

  const wholeBody = await failureOf(adapter.chat(paramsWith(), targetFor(upstream, "hang-mid-stream"), new AbortController().signal));
  t.is(wholeBody.code, Code.DeadlineExceeded, "a body that stops half-way times out too");
  await upstream.whenClosedByClient(3);
});

test("the timeout is a limit on silence, not on the whole stream", async (t) => {
  const { upstream, adapter, target } = await setUp(t, {}, 400);
  upstream.script({ kind: "answer", wire: { delayMs: 40 } });
  const words = "one two three four five six seven eight nine ten eleven twelve";
  const parts = await collect(adapter.chatStream(paramsWith({ messages: userSays(words) }), target, new AbortController().signal));
  t.is(textOf(parts), `echo: ${words}`);
});

test("an upstream nobody listens on is Unavailable, naming the address but not the key", async (t) => {
  const adapter = createOpenAICompatibleAdapter({ timeoutMs: 2_000 });
  const target = targetFor({ baseUrl: `http://127.0.0.1:${await closedPort()}/v1` });
  for (const call of [adapter.chat(paramsWith(), target, AbortSignal.timeout(10_000)), collect(adapter.chatStream(paramsWith(), target, AbortSignal.timeout(10_000)))]) {
    const error = await failureOf(call);
    t.is(error.code, Code.Unavailable);
    t.true(error.rawMessage.includes(target.baseUrl));
    neverEchoesKey(t, error);
  }
});

test("no Authorization header is sent when the target has no key", async (t) => {
  const { upstream, adapter, target } = await setUp(t);
  await adapter.chat(paramsWith(), { ...target, apiKey: undefined }, AbortSignal.timeout(10_000));
  t.is(upstream.lastRequest().headers.authorization, undefined);
});

test("sequential requests, unary and streamed, reuse kept-alive connections", async (t) => {
  const { upstream, adapter, target } = await setUp(t);
  const rounds = 6;
  for (let round = 0; round < rounds; round++) {
    await adapter.chat(paramsWith(), target, AbortSignal.timeout(10_000));
    t.is(textOf(await collect(adapter.chatStream(paramsWith(), target, AbortSignal.timeout(10_000)))), "echo: hello world");
  }
  t.is(upstream.requests.length, 2 * rounds);
  // A stream's connection is still draining the body's last bytes after [DONE] when the next request
  // starts, so a second one may open; a pool that reuses nothing would need one per stream.
  t.true(upstream.connections <= 2, `${upstream.connections} connections for ${2 * rounds} requests`);
  t.is(new Set(upstream.requests.map((request) => request.remotePort)).size, upstream.connections);
});

test("a streaming request answered with one JSON body (a server that ignores stream) is replayed as parts or fails with its error", async (t) => {
  const { upstream, adapter, target } = await setUp(t);
  const completion = {
    id: "chatcmpl-json",
    object: "chat.completion",
    created: 1,
    model: "gpt-fake",
    choices: [{ index: 0, message: { role: "assistant", content: "whole answer" }, finish_reason: "length" }],
    usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 },
  };
  upstream.script(
    { kind: "raw", headers: { "content-type": "application/json" }, chunks: [JSON.stringify(completion)] },
    { kind: "raw", headers: { "content-type": "application/json" }, chunks: [JSON.stringify({ error: { message: "streaming is not supported for this model", type: "invalid_request_error", param: "stream", code: null } })] },
  );
  const parts = await collect(adapter.chatStream(paramsWith(), target, new AbortController().signal));
  t.deepEqual(
    parts.map((part) => part.event.case),
    ["text", "finish", "usage"],
  );
  t.is(parts[0]?.event.case === "text" ? parts[0].event.value.text : "", "whole answer");
  t.is(parts[1]?.event.case === "finish" ? parts[1].event.value.reason : undefined, FinishReason.LENGTH);
  const { error } = await collectUntilFailure(adapter.chatStream(paramsWith(), target, new AbortController().signal));
  t.is(error.rawMessage, "streaming is not supported for this model");
  t.is(findUpstreamError(error)?.param, "stream");
});

test("aborting after an answer finished (Connect fires the handler's signal then too) harms nothing, and the pooled connection is reused", async (t) => {
  const { upstream, adapter, target } = await setUp(t);
  for (let round = 0; round < 5; round++) {
    const streamed = new AbortController();
    await collect(adapter.chatStream(paramsWith(), target, streamed.signal));
    streamed.abort();
    const unary = new AbortController();
    await adapter.chat(paramsWith(), target, unary.signal);
    unary.abort();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const after = await adapter.chat(paramsWith(), target, new AbortController().signal);
  t.is(after.choices[0]?.message?.content.case, "text");
  t.true(upstream.connections <= 2, `${upstream.connections} connections for 11 requests`);
});
