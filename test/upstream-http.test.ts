import test from "ava";
import http2 from "node:http2";
import https from "node:https";
import type net from "node:net";
import type tls from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import { Code } from "@connectrpc/connect";
import { loadConfig } from "../services/common/config.js";
import { createOpenAICompatibleAdapter } from "../services/router/adapters/openai-compatible/openai-compatible-adapter.js";
import { createUpstreamClient } from "../services/router/adapters/upstream/upstream-client.js";
import { upstreamClientOptions } from "../services/router/server.js";
import { apiKey, collect, collectUntilFailure, failureOf, paramsWith, textOf } from "./support/adapter-fixtures.js";
import { adminRegistry } from "./support/admin.js";
import { startFakeUpstream } from "./support/fake-openai-upstream.js";
import { startMesh } from "./support/mesh.js";
import { selfSignedCertificate } from "./support/self-signed-certificate.js";
import { blackholePort, connectProxy, rawHttpServer } from "./support/upstream-peers.js";

// The router's upstream HTTP client (undici) against upstreams that misbehave at the HTTP level,
// through proxies, over TLS and HTTP/2, and against an address that never answers.

const completion = JSON.stringify({
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "m",
  choices: [{ index: 0, message: { role: "assistant", content: "fine" }, finish_reason: "stop" }],
});
const okAnswer = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(completion)}\r\n\r\n${completion}`;
const events = ["hel", "lo"].map((text) => `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { content: text }, finish_reason: null }] })}\n\n`);
const lastEvent = `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\ndata: [DONE]\n\n`;
const sseBody = events.join("") + lastEvent;
const errorBody = JSON.stringify({ error: { message: "the model is overloaded", type: "server_error", param: null, code: null } });

const target = (baseUrl: string, upstreamModel = "m") => ({ backend: "openai", provider: "openai", baseUrl, apiKey: apiKey, upstreamModel });
const hello = { model: "openai/m", messages: [{ role: "user", content: "hi" }] };

/** A POST of `body` to the facade's chat completions; the status and the parsed answer. */
async function chat(facadeUrl: string, body: object): Promise<{ status: number; json: any }> {
  const response = await fetch(`${facadeUrl}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(20_000) });
  return { status: response.status, json: await response.json() };
}

test("answers that are not valid HTTP are a clean 502 in OpenAI's error shape, and the next request is answered", async (t) => {
  const broken: Record<string, string> = {
    "te-space": `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`,
    "chunk-size-space": `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n`,
    "chunk-size-junk": `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`,
    "both-framings": `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  };
  const upstream = await rawHttpServer(t, (socket, request) => {
    socket.write(broken[request.model] ?? okAnswer);
  });
  const mesh = await startMesh({ OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: apiKey, IIR_UPSTREAM_TIMEOUT: "10" });
  t.teardown(() => mesh.close());
  for (const model of Object.keys(broken)) {
    const { status, json } = await chat(mesh.facadeUrl, { ...hello, model: `openai/${model}` });
    t.is(status, 502, `${model}: ${JSON.stringify(json)}`);
    t.like(json.error, { type: "upstream_error", code: "upstream_malformed_response" }, model);
    t.regex(json.error.message, /^openai upstream sent a malformed HTTP answer/, model);
    const next = await chat(mesh.facadeUrl, hello);
    t.is(next.status, 200, `after ${model}`);
    t.is(next.json.choices[0].message.content, "fine");
  }
});

test("a stream framed by Content-Length, and a 500 whose body comes in two writes, leave the connection fit for the next request", async (t) => {
  const upstream = await rawHttpServer(t, async (socket, request) => {
    if (request.model === "sse-length") {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: ${Buffer.byteLength(sseBody)}\r\n\r\n${events[0]}`);
      await sleep(20);
      socket.write(events.slice(1).join("") + lastEvent);
    } else if (request.model === "error-two-writes") {
      socket.write(`HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(errorBody)}\r\n\r\n${errorBody.slice(0, 10)}`);
      await sleep(20);
      socket.write(errorBody.slice(10));
    } else {
      socket.write(okAnswer);
    }
  });
  const adapter = createOpenAICompatibleAdapter({ timeoutMs: 10_000 });
  for (let round = 0; round < 3; round++) {
    t.is(textOf(await collect(adapter.chatStream(paramsWith(), target(upstream.baseUrl, "sse-length"), AbortSignal.timeout(10_000)))), "hello");
    const next = await adapter.chat(paramsWith(), target(upstream.baseUrl), AbortSignal.timeout(10_000));
    t.is(next.choices[0]?.message?.content.value, "fine");
    const error = await failureOf(adapter.chat(paramsWith(), target(upstream.baseUrl, "error-two-writes"), AbortSignal.timeout(10_000)));
    t.is(error.code, Code.Unavailable);
    t.is(error.rawMessage, "the model is overloaded");
    const after = await adapter.chat(paramsWith(), target(upstream.baseUrl), AbortSignal.timeout(10_000));
    t.is(after.choices[0]?.message?.content.value, "fine");
  }
  // Every answer was read to its end and its connection kept: undici may open a second one for a
  // request that comes the moment an answer ends, before the pool has counted its connection free.
  t.true(upstream.stats.connections <= 2, `${upstream.stats.connections} connections for 12 requests`);
});

test("an upstream that closes idle keep-alive connections loses no request: 2,000 requests, 0 failures", async (t) => {
  let closedIdle = 0;
  let arrivedAfterClose = 0;
  const closing = new WeakSet<net.Socket>();
  const upstream = await rawHttpServer(t, (socket) => {
    if (closing.has(socket)) {
      // The request crossed the server's FIN: it is never answered, as a real server would not.
      arrivedAfterClose++;
      socket.destroy();
      return;
    }
    socket.write(okAnswer);
    // Most answers end their connection's life a moment later, with no Keep-Alive hint to go by.
    if (Math.random() < 0.5) {
      setTimeout(() => {
        closing.add(socket);
        closedIdle++;
        socket.end();
      }, Math.random() * 3);
    }
  });
  const adapter = createOpenAICompatibleAdapter({ timeoutMs: 10_000 });
  let failures = 0;
  let next = 0;
  const worker = async () => {
    while (next < 2000) {
      next++;
      try {
        await adapter.chat(paramsWith(), target(upstream.baseUrl), AbortSignal.timeout(10_000));
      } catch (error) {
        failures++;
        t.log(String(error), (error as { cause?: unknown }).cause);
      }
      await sleep(Math.random() * 2);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  t.log(`${closedIdle} connections closed by the server after an answer; ${arrivedAfterClose} requests crossed a close and were sent again`);
  t.is(failures, 0);
  t.true(closedIdle > 100, "the server did close connections under the client");
});

test("HTTP_PROXY and HTTPS_PROXY are honoured with CONNECT tunnels, and NO_PROXY bypasses them", async (t) => {
  const proxy = await connectProxy(t);
  const fake = await startFakeUpstream();
  t.teardown(() => fake.close());
  const mesh = await startMesh({ OPENAI_BASE_URL: fake.baseUrl, EXTERNAL_OPENAI_KEY: apiKey, HTTP_PROXY: proxy.url, NO_PROXY: "example.invalid" });
  t.teardown(() => mesh.close());
  const { status, json } = await chat(mesh.facadeUrl, { ...hello, model: "openai/gpt-4o-mini" });
  t.is(status, 200, JSON.stringify(json));
  t.is(json.choices[0].message.content, "echo: hi");
  t.deepEqual(proxy.tunnels, [new URL(fake.baseUrl).host], "the request went through the proxy");

  // https, as providers are reached: the tunnel carries TLS to the provider's name.
  const { key, cert } = selfSignedCertificate(t);
  const server = https.createServer({ key, cert }, (request, response) => {
    request.resume();
    response.writeHead(200, { "content-type": "application/json" }).end(completion);
  });
  server.listen(0, "127.0.0.1");
  t.teardown(() => server.close());
  await new Promise((resolve) => server.once("listening", resolve));
  const httpsBase = `https://localhost:${(server.address() as net.AddressInfo).port}/v1`;
  for (const [env, proxied] of [
    [{ HTTPS_PROXY: proxy.url }, true],
    [{ HTTPS_PROXY: proxy.url, NO_PROXY: "localhost" }, false],
    [{ https_proxy: proxy.url, no_proxy: "other.example, .localhost,localhost" }, false],
  ] as const) {
    const client = createUpstreamClient({ ...upstreamClientOptions(loadConfig(env)), ca: cert });
    t.teardown(() => client.close());
    const before = proxy.tunnels.length;
    const answer = await createOpenAICompatibleAdapter({ timeoutMs: 10_000, client }).chat(paramsWith(), target(httpsBase), AbortSignal.timeout(10_000));
    t.is(answer.choices[0]?.message?.content.value, "fine");
    t.deepEqual(proxy.tunnels.slice(before), proxied ? [new URL(httpsBase).host] : [], JSON.stringify(env));
  }
});

test("a connect timeout moves a registry model to its fallback in time, and an adapter call fails Unavailable", async (t) => {
  const port = await blackholePort(t);
  const spare = await startFakeUpstream();
  t.teardown(() => spare.close());
  const mesh = await startMesh({ IIR_UPSTREAM_CONNECT_TIMEOUT: "1", EXTERNAL_BLACKHOLE_KEY: apiKey });
  t.teardown(() => mesh.close());
  const registry = adminRegistry(mesh.routerUrl);
  await registry.upsertModel({ model: { name: "steady", provider: "openai", baseUrl: spare.baseUrl, upstreamModel: "gpt-4o-mini", enabled: true } });
  await registry.upsertModel({
    model: { name: "firewalled", provider: "openai", baseUrl: `http://127.0.0.1:${port}/v1`, upstreamModel: "m", apiKeyEnv: "EXTERNAL_BLACKHOLE_KEY", fallbacks: ["steady"], enabled: true },
  });
  const started = Date.now();
  const { status, json } = await chat(mesh.facadeUrl, { ...hello, model: "firewalled" });
  const elapsed = Date.now() - started;
  t.is(status, 200);
  t.is(json.choices[0].message.content, "echo: hi");
  // The kernel alone would retry the SYN for two minutes; the connect timeout is 1 s.
  t.true(elapsed < 8_000, `answered after ${elapsed} ms`);

  const client = createUpstreamClient({ timeoutMs: 30_000, connectTimeoutMs: 300 });
  t.teardown(() => client.close());
  const error = await failureOf(createOpenAICompatibleAdapter({ timeoutMs: 30_000, client }).chat(paramsWith(), target(`http://127.0.0.1:${port}/v1`), AbortSignal.timeout(20_000)));
  t.is(error.code, Code.Unavailable);
  t.is(error.rawMessage, "openai upstream could not be reached: connecting timed out");
});

test("TLS sessions are resumed on new connections, and HTTP/2 is used where allowed and offered", async (t) => {
  const { key, cert } = selfSignedCertificate(t);
  const seen: { version: string; resumed: boolean }[] = [];
  const server = http2.createSecureServer({ key, cert, allowHTTP1: true }, async (request, response) => {
    seen.push({ version: request.httpVersion, resumed: (request.socket as tls.TLSSocket).isSessionReused() });
    request.resume();
    if (request.headers["x-slow"] !== undefined) await sleep(300);
    response.writeHead(200, { "content-type": "application/json" });
    response.end(completion);
  });
  server.listen(0, "127.0.0.1");
  t.teardown(() => server.close());
  await new Promise((resolve) => server.once("listening", resolve));
  const baseUrl = `https://localhost:${(server.address() as net.AddressInfo).port}/v1`;

  const http1 = createUpstreamClient({ timeoutMs: 10_000, ca: cert });
  t.teardown(() => http1.close());
  const adapter = createOpenAICompatibleAdapter({ timeoutMs: 10_000, client: http1 });
  await adapter.chat(paramsWith(), target(baseUrl), AbortSignal.timeout(10_000));
  // A second connection, opened while the first is busy, resumes the first one's session.
  await Promise.all([
    adapter.chat(paramsWith(), { ...target(baseUrl), headers: { "x-slow": "1" } }, AbortSignal.timeout(10_000)),
    sleep(50).then(() => adapter.chat(paramsWith(), target(baseUrl), AbortSignal.timeout(10_000))),
  ]);
  t.deepEqual(seen.map((request) => request.version), ["1.1", "1.1", "1.1"]);
  t.true(seen.some((request) => request.resumed), "a connection resumed a TLS session");

  seen.length = 0;
  const http2Client = createUpstreamClient({ timeoutMs: 10_000, ca: cert, http2: true });
  t.teardown(() => http2Client.close());
  const overHttp2 = createOpenAICompatibleAdapter({ timeoutMs: 10_000, client: http2Client });
  const answers = await Promise.all(Array.from({ length: 4 }, () => overHttp2.chat(paramsWith(), target(baseUrl), AbortSignal.timeout(10_000))));
  t.deepEqual(answers.map((answer) => answer.choices[0]?.message?.content.value), ["fine", "fine", "fine", "fine"]);
  const streamed = await collect(overHttp2.chatStream(paramsWith(), target(baseUrl), AbortSignal.timeout(10_000)));
  t.true(streamed.length > 0);
  t.true(seen.every((request) => request.version === "2.0"), JSON.stringify(seen));
});

test("a stream line longer than the parser's limit fails the stream Unavailable instead of growing without end", async (t) => {
  const upstream = await rawHttpServer(t, async (socket) => {
    socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const piece = "x".repeat(1024 * 1024);
    for (let sent = 0; sent < 10 && !socket.destroyed; sent++) {
      socket.write(`${piece.length.toString(16)}\r\n${piece}\r\n`);
      await sleep(5);
    }
  });
  const adapter = createOpenAICompatibleAdapter({ timeoutMs: 10_000 });
  const { error } = await collectUntilFailure(adapter.chatStream(paramsWith(), target(upstream.baseUrl), AbortSignal.timeout(10_000)));
  t.is(error.code, Code.Unavailable);
  t.regex(error.rawMessage, /longer than 8388608 characters/);
});
