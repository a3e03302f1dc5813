import test, { type ExecutionContext } from "ava";
import OpenAI from "openai";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ChatParamsSchema, InferenceService, Role } from "../gen/iir/inference/v1/inference_pb.js";
import { startFacade } from "../facade/server.js";
import { loadConfig } from "../services/common/config.js";
import { findGatewayError, findUpstreamError } from "../services/common/errors.js";
import { createLogger } from "../services/common/logger.js";
import type { ChatTarget } from "../services/router/adapters/adapter.js";
import { createAgentAdapter } from "../services/router/adapters/agent/agent-adapter.js";
import { createOpenAICompatibleAdapter } from "../services/router/adapters/openai-compatible/openai-compatible-adapter.js";
import { collect, failureOf, paramsWith } from "./support/adapter-fixtures.js";
import { adminRegistry } from "./support/admin.js";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { startMesh, type TestMesh, type TestMeshOptions } from "./support/mesh.js";
import { freePort } from "./support/process-fixtures.js";

// What clients and logs may learn when things fail: the backend's name, never its address, IIR's
// credentials for it, or a provider's refusal of them dressed up as the client's own 401.

const user = "leak-user";
const password = "leak-s3cret-pass";
const basic = Buffer.from(`${user}:${password}`).toString("base64");
const upstreamKey = "fake-leak-test-upstream-key-0000";
const hello = [{ role: "user" as const, content: "hello there" }];

/** Every form of IIR's credentials found in `text`; empty when none is. */
function credentialsIn(text: string): string[] {
  return [password, basic, `${user}:${password}`, upstreamKey].filter((secret) => text.includes(secret));
}

async function meshFor(t: ExecutionContext, env: Record<string, string>, options: TestMeshOptions = {}): Promise<{ mesh: TestMesh; client: OpenAI }> {
  const mesh = await startMesh(env, options);
  t.teardown(() => mesh.close());
  // maxRetries 0: a test about one error must see that error, not the SDK's retry of it.
  return { mesh, client: new OpenAI({ baseURL: mesh.facadeUrl, apiKey: "unused", maxRetries: 0 }) };
}

async function upstreamFor(t: ExecutionContext, options: Parameters<typeof startFakeUpstream>[0] = {}): Promise<FakeUpstream> {
  const upstream = await startFakeUpstream(options);
  t.teardown(() => upstream.close());
  return upstream;
}

async function apiErrorOf(t: ExecutionContext, call: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const error = await t.throwsAsync(call);
  if (!(error instanceof OpenAI.APIError)) throw new Error(`expected an APIError, got ${String(error)}`);
  return error;
}

function grpcInference(mesh: TestMesh) {
  return createClient(InferenceService, createGrpcTransport({ baseUrl: mesh.routerUrl }));
}

function grpcParams(model: string) {
  return create(ChatParamsSchema, { model, messages: [{ role: Role.USER, content: { case: "text", value: "hello there" } }] });
}

test("an unreachable provider's base URL credentials and address reach neither the client nor the log", async (t) => {
  const port = await freePort();
  const lines: string[] = [];
  const { mesh, client } = await meshFor(t, { OPENAI_BASE_URL: `http://${user}:${password}@127.0.0.1:${port}/v1`, LOG_LEVEL: "debug" }, { writeLog: (line) => void lines.push(line) });
  const address = `127.0.0.1:${port}`;

  const unary = await apiErrorOf(t, client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: hello }));
  t.is(unary.status, 503);
  t.regex(unary.message, /openai upstream is unreachable: connection refused/);
  const streamed = await apiErrorOf(t, client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: hello, stream: true }));
  const overGrpc = await failureOf(grpcInference(mesh).chat({ params: grpcParams("openai/gpt-4o-mini") }));
  t.is(overGrpc.code, Code.Unavailable);

  for (const message of [unary.message, streamed.message, overGrpc.rawMessage]) {
    t.deepEqual(credentialsIn(message), [], message);
    t.false(message.includes(address), message);
  }
  t.true(lines.some((line) => line.includes("request failed")), "the failures were logged, so the log was looked at");
  const log = lines.join("");
  t.deepEqual(credentialsIn(log), []);
  t.false(log.includes(address), "the upstream's address is not logged");
});

test("Basic credentials an upstream echoes back, encoded or decoded, are blanked from what the client sees", async (t) => {
  const upstream = await upstreamFor(t);
  upstream.script({
    kind: "custom",
    handle: (request, response) => {
      const message = `proxy refused ${request.headers.authorization ?? ""} (${user}:${password})`;
      response.writeHead(502, { "content-type": "application/json" }).end(JSON.stringify({ error: { message, type: "server_error" } }));
    },
  });
  const { client } = await meshFor(t, { OPENAI_BASE_URL: `http://${user}:${password}@127.0.0.1:${upstream.port}/v1` });
  const error = await apiErrorOf(t, client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: hello }));
  t.is(upstream.lastRequest().headers.authorization, `Basic ${basic}`, "the credentials went upstream, and came back in its message");
  t.deepEqual(credentialsIn(error.message), []);
  t.regex(error.message, /proxy refused Basic \[redacted\]/);
});

test("a short provider key the upstream quotes withholds its message rather than leak it", async (t) => {
  const upstream = await upstreamFor(t);
  upstream.script({
    kind: "custom",
    handle: (request, response) => {
      const message = `key ${request.headers.authorization?.slice("Bearer ".length) ?? ""} is over quota`;
      response.writeHead(429, { "content-type": "application/json" }).end(JSON.stringify({ error: { message, type: "insufficient_quota" } }));
    },
  });
  const adapter = createOpenAICompatibleAdapter({ timeoutMs: 5_000 });
  const target: ChatTarget = { backend: "openai", provider: "openai", baseUrl: upstream.baseUrl, apiKey: "k3y9", upstreamModel: "gpt-fake" };
  const error = await failureOf(adapter.chat(paramsWith(), target, AbortSignal.timeout(10_000)));
  t.is(error.code, Code.ResourceExhausted);
  t.false(error.rawMessage.includes("k3y9"));
  t.false(JSON.stringify(findUpstreamError(error) ?? {}).includes("k3y9"));
});

test("an agent that cannot be reached is named by its id, never by its address", async (t) => {
  const port = await freePort();
  const adapter = createAgentAdapter({ timeoutMs: 5_000 });
  const target: ChatTarget = { backend: "agent-7", provider: "local", baseUrl: `http://127.0.0.1:${port}`, apiKey: undefined, upstreamModel: "local/tiny" };
  const calls = [() => adapter.chat(paramsWith(), target, AbortSignal.timeout(10_000)), () => collect(adapter.chatStream(paramsWith(), target, AbortSignal.timeout(10_000)))];
  for (const call of calls) {
    const error = await failureOf(call());
    t.is(error.code, Code.Unavailable, "another agent may be tried");
    t.is(error.rawMessage, "agent agent-7 failed: connection refused (ECONNREFUSED)");
  }
});

test("a split facade whose router is unreachable names the router, not its address", async (t) => {
  const port = await freePort();
  const config = loadConfig({ IIR_HOST: "127.0.0.1", IIR_FACADE_PORT: "0", LOG_LEVEL: "silent" });
  const facade = await startFacade({
    config,
    transport: createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }),
    logger: createLogger({ level: "silent", name: "test" }),
  });
  t.teardown(() => facade.close(1000));
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${facade.port}/v1`, apiKey: "unused", maxRetries: 0 });
  for (const stream of [false, true]) {
    const error = await apiErrorOf(t, client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: hello, stream }));
    t.is(error.status, 503);
    t.regex(error.message, /the router is unreachable: connection refused \(ECONNREFUSED\)/);
    t.false(error.message.includes(String(port)), error.message);
  }
});

test.serial("a provider's 401 and 403 reach an OpenAI SDK as 502 upstream_auth_error naming the provider and the variable, never its words", async (t) => {
  const upstream = await upstreamFor(t, { apiKey: upstreamKey });
  const { client } = await meshFor(t, { OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: upstreamKey });
  for (const model of ["openai/fail-401", "openai/fail-403"]) {
    for (const stream of [false, true]) {
      const error = await apiErrorOf(t, client.chat.completions.create({ model, messages: hello, stream }));
      t.is(error.status, 502, model);
      t.false(error instanceof OpenAI.AuthenticationError || error instanceof OpenAI.PermissionDeniedError, "never the client's own 401 or 403");
      t.is(error.type, "upstream_error");
      t.is(error.code, "upstream_auth_error");
      t.is(error.param, null);
      t.regex(error.message, /The provider 'openai' refused IIR's credentials .* An operator should check EXTERNAL_OPENAI_KEY\./);
      t.false(/Incorrect API key|not allowed to sample/.test(error.message), "the provider's own words stay out");
      t.deepEqual(credentialsIn(error.message), []);
    }
  }
});

test.serial("an authentication error event mid-stream ends the stream with the same upstream_auth_error", async (t) => {
  const upstream = await upstreamFor(t);
  const chunk = { id: "c1", object: "chat.completion.chunk", created: 1, model: "gpt-fake", choices: [{ index: 0, delta: { role: "assistant", content: "Hi" }, finish_reason: null }] };
  const failure = { error: { message: `Incorrect API key provided: ${upstreamKey}.`, type: "invalid_request_error", param: null, code: "invalid_api_key" } };
  upstream.script({ kind: "raw", headers: { "content-type": "text/event-stream" }, chunks: [`data: ${JSON.stringify(chunk)}\n\n`, `data: ${JSON.stringify(failure)}\n\n`] });
  const { client } = await meshFor(t, { OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: upstreamKey });
  const stream = await client.chat.completions.create({ model: "openai/gpt-fake", messages: hello, stream: true });
  let text = "";
  const error = await apiErrorOf(
    t,
    (async () => {
      for await (const part of stream) text += part.choices[0]?.delta.content ?? "";
    })(),
  );
  t.is(text, "Hi", "what came before the error was delivered");
  t.is(error.code, "upstream_auth_error");
  t.is(error.type, "upstream_error");
  t.deepEqual(credentialsIn(error.message), []);
});

test.serial("over gRPC a provider's 401 is Unavailable carrying the gateway's error detail", async (t) => {
  const upstream = await upstreamFor(t, { apiKey: upstreamKey });
  const { mesh } = await meshFor(t, { OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: upstreamKey });
  const error = await failureOf(grpcInference(mesh).chat({ params: grpcParams("openai/fail-401") }));
  t.true(error instanceof ConnectError);
  t.is(error.code, Code.Unavailable);
  t.like(findGatewayError(error), { httpStatus: 502, type: "upstream_error", code: "upstream_auth_error" });
  t.is(findUpstreamError(error), undefined);
  t.deepEqual(credentialsIn(error.rawMessage), []);
});

test.serial("a registry model whose provider refuses IIR's key falls back to the next in its list", async (t) => {
  const upstream = await upstreamFor(t, { apiKey: upstreamKey });
  const spare = await upstreamFor(t);
  const { mesh, client } = await meshFor(t, { OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: upstreamKey });
  const registry = adminRegistry(mesh.routerUrl);
  await registry.upsertModel({ model: { name: "steady", provider: "openai", baseUrl: spare.baseUrl, upstreamModel: "gpt-4o-mini", enabled: true } });
  await registry.upsertModel({ model: { name: "guarded", provider: "openai", upstreamModel: "fail-401", fallbacks: ["steady"], enabled: true } });
  const answer = await client.chat.completions.create({ model: "guarded", messages: hello });
  t.is(answer.choices[0]?.message.content, "echo: hello there");
  t.is(upstream.lastRequest().scenario, "error", "the first candidate was tried and refused");
  t.is(spare.requests.length, 1, "the fallback answered");
});
