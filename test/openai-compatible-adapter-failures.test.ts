import test from "ava";
import { Code } from "@connectrpc/connect";
import { FinishReason, type ChatStreamResponse } from "../gen/iir/inference/v1/inference_pb.js";
import { findGatewayError, findUpstreamError } from "../services/common/errors.js";
import { createOpenAICompatibleAdapter } from "../services/router/adapters/openai-compatible/openai-compatible-adapter.js";
import { apiKey, setUp, targetFor, paramsWith, userSays, collect, collectUntilFailure, failureOf, textOf, neverEchoesKey } from "./support/adapter-fixtures.js";
import { freePort } from "./support/process-fixtures.js";

// The OpenAI-compatible adapter when things go wrong: upstream errors, drops, timeouts, cancellation, pooling.

test("a 401 is the gateway's upstream_auth_error naming the provider, never the provider's message or key", async (t) => {
  const { upstream, adapter } = await setUp(t);
  const error = await failureOf(adapter.chat(paramsWith(), targetFor(upstream, "fail-401"), AbortSignal.timeout(10_000)));
  t.is(error.code, Code.Unavailable, "IIR's credentials, not the caller's: a fallback may still answer");
  t.like(findGatewayError(error), { httpStatus: 502, code: "upstream_auth_error" });
  t.regex(error.rawMessage, /'openai'/);
  t.false(error.rawMessage.includes("Incorrect API key provided"));
  neverEchoesKey(t, error);
});

test("a provider's error that echoes the key is redacted; the rest of its message stays", async (t) => {
  const { upstream, adapter, target } = await setUp(t);
  upstream.script({ kind: "error", status: 500, body: JSON.stringify({ error: { message: `key ${apiKey} is throttled`, type: "server_error" } }), contentType: "application/json" });
  const error = await failureOf(adapter.chat(paramsWith(), target, AbortSignal.timeout(10_000)));
  t.is(error.rawMessage, "key [redacted] is throttled");
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

test("an upstream nobody listens on is Unavailable, naming the backend but neither its address nor the key", async (t) => {
  const adapter = createOpenAICompatibleAdapter({ timeoutMs: 2_000 });
  const target = targetFor({ baseUrl: `http://127.0.0.1:${await freePort()}/v1` });
  const calls = [() => adapter.chat(paramsWith(), target, AbortSignal.timeout(10_000)), () => collect(adapter.chatStream(paramsWith(), target, AbortSignal.timeout(10_000)))];
  for (const call of calls) {
    const error = await failureOf(call());
    t.is(error.code, Code.Unavailable);
    t.regex(error.rawMessage, /^openai upstream is unreachable/);
    t.false(error.rawMessage.includes("127.0.0.1"), error.rawMessage);
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
  // starts, and undici counts a connection free a moment after its answer ended, so a second or (on
  // a loaded machine) third one may open; a pool that reuses nothing would need one per request.
  t.true(upstream.connections <= 3, `${upstream.connections} connections for ${2 * rounds} requests`);
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
