import http from "node:http";
import test from "ava";
import { Code } from "@connectrpc/connect";
import { FinishReason, Role } from "../gen/iir/inference/v1/inference_pb.js";
import { nextBatchOf } from "../services/common/async-iterables.js";
import { findGatewayError, findUpstreamError } from "../services/common/errors.js";
import { createOpenAICompatibleAdapter } from "../services/router/adapters/openai-compatible/openai-compatible-adapter.js";
import { listenOnLoopback } from "./support/loopback-server.js";
import { apiKey, weatherTool, setUp, targetFor, paramsWith, userSays, collect, failureOf, textOf, kindsOf, neverEchoesKey } from "./support/adapter-fixtures.js";

// The OpenAI-compatible adapter against a fake upstream: answers, streams, tool calls, forwarded fields.

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
    messages: [{ role: Role.USER, content: { case: "text", value: "hi" }, name: "ann", extra: { prefix: true } }],
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
  t.deepEqual(body.messages, [{ role: "user", content: "hi", name: "ann", prefix: true }]);
});

const statusCases = [
  { model: "fail-400", status: 400, code: Code.InvalidArgument, type: "invalid_request_error", param: "messages", upstreamCode: "invalid_value" },
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

  test(`${mode}: a provider refusing IIR's own credentials (401, 403) is Unavailable with a 502 upstream_auth_error, not the caller's fault`, async (t) => {
    const { upstream, adapter } = await setUp(t);
    for (const model of ["fail-401", "fail-403"]) {
      const target = targetFor(upstream, model);
      const call = mode === "chat" ? adapter.chat(paramsWith(), target, AbortSignal.timeout(10_000)) : collect(adapter.chatStream(paramsWith(), target, AbortSignal.timeout(10_000)));
      const error = await failureOf(call);
      t.is(error.code, Code.Unavailable, model);
      t.like(findGatewayError(error), { httpStatus: 502, type: "upstream_error", code: "upstream_auth_error" }, model);
      t.is(findUpstreamError(error), undefined, "the provider's own error, which may quote a masked key, does not travel");
      neverEchoesKey(t, error);
    }
  });
}

test("every part one upstream read carried reaches the reader in one batch, also when the body's chunks were parsed one by one", async (t) => {
  // Two chunks of the chunked body in one TCP segment: the first event alone, then the rest.
  const event = (delta: object, finish: string | null) => `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "gpt-fake", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const server = http.createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      response.writeHead(200, { "content-type": "text/event-stream" });
      response.socket!.cork();
      response.write(event({ role: "assistant", content: "Hel" }, null));
      response.write(event({ content: "lo" }, null) + event({}, "stop") + "data: [DONE]\n\n");
      response.socket!.uncork();
      setTimeout(() => response.end(), 20);
    });
  });
  const url = await listenOnLoopback(t, server);
  const adapter = createOpenAICompatibleAdapter({ timeoutMs: 5_000 });
  const parts = adapter.chatStream(paramsWith(), targetFor({ baseUrl: `${url.origin}/v1` }), AbortSignal.timeout(10_000))[Symbol.asyncIterator]();

  const first = await nextBatchOf(parts);
  t.false(first.done);
  const batch = first.done === true ? [] : first.value;
  t.is(textOf(batch), "Hello");
  t.deepEqual(kindsOf(batch), ["text", "finish"]);
  t.deepEqual(await nextBatchOf(parts), { done: true, value: undefined });
});
