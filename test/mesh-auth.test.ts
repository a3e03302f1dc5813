import http from "node:http";
import os from "node:os";
import test, { type ExecutionContext } from "ava";
import OpenAI from "openai";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { HeartbeatService } from "../gen/iir/heartbeat/v1/heartbeat_pb.js";
import { InferenceService, Role } from "../gen/iir/inference/v1/inference_pb.js";
import { RegistryService } from "../gen/iir/registry/v1/registry_pb.js";
import { findGatewayError } from "../services/common/errors.js";
import { bearer } from "./support/admin.js";
import { startTestAgent } from "./support/agent-fixtures.js";
import { startFakeUpstream } from "./support/fake-openai-upstream.js";
import { listenOnLoopback } from "./support/loopback-server.js";
import { startMesh, type TestMesh } from "./support/mesh.js";

// Attacks on the router's and agents' ports, each as a real client of real servers: registry
// changes, agent registrations and inference calls that no API key, admin token or agent token allows.

const adminToken = "admin-s3cret-token";
const agentToken = "agent-s3cret-token";
const hello = [{ role: Role.USER, content: { case: "text" as const, value: "hello there" } }];

function codeOf(error: unknown): Code {
  return ConnectError.from(error).code;
}

/** This machine's first address other than loopback: a caller from "another machine" as the router sees it. */
function externalAddress(t: ExecutionContext): string {
  for (const entries of Object.values(os.networkInterfaces())) {
    for (const entry of entries ?? []) if (entry.family === "IPv4" && !entry.internal) return entry.address;
  }
  t.fail("this machine has no address besides loopback; the tests of remote callers need one");
  return "127.0.0.1";
}

function transportTo(url: string, token?: string): Transport {
  return createGrpcTransport({ baseUrl: url, interceptors: token === undefined ? [] : [bearer(token)] });
}

async function meshWith(t: ExecutionContext, env: Record<string, string>): Promise<TestMesh> {
  const mesh = await startMesh(env);
  t.teardown(() => mesh.close());
  return mesh;
}

/** A server that records every request it gets: where an attacker would like IIR to send secrets. */
async function attackerServer(t: ExecutionContext): Promise<{ url: string; authorizations: string[] }> {
  const authorizations: string[] = [];
  const server = http.createServer((request, response) => {
    authorizations.push(String(request.headers.authorization));
    request.resume();
    response.writeHead(500).end();
  });
  const url = await listenOnLoopback(t, server);
  return { url: `${url.origin}/v1`, authorizations };
}

test("without IIR_ADMIN_TOKEN no registry change or API key call is accepted over gRPC, so no secret can be sent elsewhere", async (t) => {
  const attacker = await attackerServer(t);
  const mesh = await meshWith(t, { IIR_ADMIN_TOKEN: "", AWS_SECRET_ACCESS_KEY: "aws-very-secret", EXTERNAL_OPENAI_KEY: "sk-very-secret" });
  const registry = createClient(RegistryService, transportTo(mesh.routerUrl, "anything"));
  for (const apiKeyEnv of ["AWS_SECRET_ACCESS_KEY", "EXTERNAL_OPENAI_KEY"]) {
    const model = { name: "exfiltrate", provider: "openai", baseUrl: attacker.url, apiKeyEnv, enabled: true };
    const refused = ConnectError.from(await t.throwsAsync(registry.upsertModel({ model })));
    t.is(refused.code, Code.PermissionDenied);
    t.regex(refused.rawMessage, /IIR_ADMIN_TOKEN/, "the refusal names the variable to set");
  }
  for (const call of [
    registry.deleteModel({ name: "x" }),
    registry.createApiKey({ name: "mine" }),
    registry.listApiKeys({}),
    registry.revokeApiKey({ name: "x" }),
  ]) {
    t.is(codeOf(await t.throwsAsync(call)), Code.PermissionDenied);
  }
  const inference = createClient(InferenceService, transportTo(mesh.routerUrl));
  t.is(codeOf(await t.throwsAsync(inference.chat({ params: { model: "exfiltrate", messages: hello } }))), Code.NotFound);
  t.deepEqual(attacker.authorizations, [], "no request, hence no secret, reached the attacker");
});

test("with IIR_ADMIN_TOKEN: Unauthenticated without it, PermissionDenied when wrong, and a key variable outside EXTERNAL_* is refused even with it", async (t) => {
  const attacker = await attackerServer(t);
  const mesh = await meshWith(t, { IIR_ADMIN_TOKEN: adminToken, AWS_SECRET_ACCESS_KEY: "aws-very-secret" });
  const model = { name: "guarded", provider: "openai", upstreamModel: "gpt-4o-mini", enabled: true };
  const anonymous = createClient(RegistryService, transportTo(mesh.routerUrl));
  const missing = ConnectError.from(await t.throwsAsync(anonymous.upsertModel({ model })));
  t.is(missing.code, Code.Unauthenticated);
  t.regex(missing.rawMessage, /IIR_ADMIN_TOKEN/);
  t.is(codeOf(await t.throwsAsync(createClient(RegistryService, transportTo(mesh.routerUrl, "guess")).upsertModel({ model }))), Code.PermissionDenied);
  t.is(codeOf(await t.throwsAsync(createClient(RegistryService, transportTo(mesh.routerUrl, agentToken)).upsertModel({ model }))), Code.PermissionDenied);

  const admin = createClient(RegistryService, transportTo(mesh.routerUrl, adminToken));
  t.is((await admin.upsertModel({ model })).model?.name, "guarded");
  const exfiltration = { name: "exfiltrate", provider: "openai", baseUrl: attacker.url, apiKeyEnv: "AWS_SECRET_ACCESS_KEY", enabled: true };
  const refused = ConnectError.from(await t.throwsAsync(admin.upsertModel({ model: exfiltration })));
  t.is(refused.code, Code.InvalidArgument);
  t.regex(refused.rawMessage, /EXTERNAL_/);
  await admin.deleteModel({ name: "guarded" });
  t.deepEqual((await admin.listModels({})).models, []);
  t.deepEqual(attacker.authorizations, []);
});

test("API keys bind the router's own InferenceService: keys made over gRPC, enforced for gRPC and REST callers alike, with rate limits", async (t) => {
  const upstream = await startFakeUpstream();
  t.teardown(() => upstream.close());
  const mesh = await meshWith(t, { IIR_ADMIN_TOKEN: adminToken, OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-upstream" });
  const admin = createClient(RegistryService, transportTo(mesh.routerUrl, adminToken));
  const { secret, apiKey } = await admin.createApiKey({ name: "grpc-team", rpm: 2 });
  t.regex(secret, /^iir-[0-9A-Za-z]{40}$/);
  t.is(apiKey?.lastFour, secret.slice(-4));
  t.deepEqual((await admin.listApiKeys({})).apiKeys.map((key) => key.name), ["grpc-team"]);

  const params = { model: "openai/gpt-4o-mini", messages: hello };
  const eventuallyRefused = async () => {
    const deadline = Date.now() + 3000;
    for (;;) {
      const error = await createClient(InferenceService, transportTo(mesh.routerUrl)).chat({ params }).then(() => undefined, (failure: unknown) => failure);
      if (error !== undefined || Date.now() > deadline) return error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  t.is(codeOf(await eventuallyRefused()), Code.Unauthenticated, "a chat without a key is refused on the router's port");
  const streamed = createClient(InferenceService, transportTo(mesh.routerUrl, "iir-guess")).chatStream({ params });
  t.is(codeOf(await t.throwsAsync(streamed[Symbol.asyncIterator]().next())), Code.Unauthenticated);
  t.is(codeOf(await t.throwsAsync(createClient(InferenceService, transportTo(mesh.routerUrl)).listModels({}))), Code.Unauthenticated);
  const before = upstream.requests.length;

  const inference = createClient(InferenceService, transportTo(mesh.routerUrl, secret));
  let limits: Headers | undefined;
  const answer = await inference.chat({ params }, { onHeader: (headers) => (limits = headers) });
  t.is(answer.choices[0]?.message?.content.value, "echo: hello there");
  t.is(limits?.get("x-ratelimit-remaining-requests"), "1");
  const rest = new OpenAI({ baseURL: mesh.facadeUrl, apiKey: secret, maxRetries: 0 });
  t.is((await rest.chat.completions.create({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "hi" }] })).choices[0]?.message.content, "echo: hi");
  const limited = ConnectError.from(await t.throwsAsync(inference.chat({ params })));
  t.is(limited.code, Code.ResourceExhausted, "gRPC and REST callers spend one budget");
  t.truthy(limited.metadata.get("retry-after"));
  t.is(limited.metadata.get("x-ratelimit-remaining-requests"), "0");
  t.like(findGatewayError(limited), { httpStatus: 429, type: "requests", code: "rate_limit_exceeded" });
  t.is(upstream.requests.length, before + 2, "refused calls never reached a backend");

  await admin.revokeApiKey({ name: "grpc-team" });
  const deadline = Date.now() + 3000;
  let revoked: unknown;
  while (revoked === undefined && Date.now() < deadline) revoked = await inference.listModels({}).then(() => undefined, (error: unknown) => error);
  t.is(codeOf(revoked), Code.Unauthenticated, "a key revoked over gRPC stops working");
});

test("an agent may not claim a provider's names or a registry entry's, so it cannot take over their traffic", async (t) => {
  const upstream = await startFakeUpstream();
  t.teardown(() => upstream.close());
  const lines: string[] = [];
  const mesh = await startMesh(
    { IIR_ADMIN_TOKEN: adminToken, OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-upstream", LOG_LEVEL: "warn" },
    { writeLog: (line) => void lines.push(line) },
  );
  t.teardown(() => mesh.close());
  const admin = createClient(RegistryService, transportTo(mesh.routerUrl, adminToken));
  await admin.upsertModel({ model: { name: "team-chat", provider: "openai", upstreamModel: "gpt-4o-mini", enabled: true } });
  await admin.upsertModel({ model: { name: "local/served", provider: "local", enabled: true } });
  const registry = createClient(RegistryService, transportTo(mesh.routerUrl));
  for (const model of ["openai/gpt-4o-mini", "groq/llama", "team-chat"]) {
    const refused = ConnectError.from(await t.throwsAsync(registry.registerAgent({ id: "hijacker", address: "http://127.0.0.1:1", models: [model] })));
    t.is(refused.code, Code.PermissionDenied, model);
    t.true(refused.rawMessage.includes(model));
  }
  t.true(lines.some((line) => line.includes("agent registration refused") && line.includes("hijacker")), "refusals are logged");
  await registry.registerAgent({ id: "honest", address: "http://127.0.0.1:1", models: ["local/served", "local/other"] });
  t.deepEqual((await admin.listAgents({})).agents.map((agent) => agent.id), ["honest"]);

  const client = new OpenAI({ baseURL: mesh.facadeUrl, apiKey: "unused", maxRetries: 0 });
  const answer = await client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "mine" }] });
  t.is(answer.choices[0]?.message.content, "echo: mine", "the provider still answers its own names");
});

test("agents from other machines need IIR_AGENT_TOKEN to join; from loopback they need it only when it is set", async (t) => {
  const external = externalAddress(t);
  const open = await meshWith(t, { IIR_ROUTER_HOST: "0.0.0.0" });
  const registration = { id: "a1", address: "http://127.0.0.1:1", models: ["local/x"] };
  const remote = `http://${external}:${open.routerPort}`;
  const refused = ConnectError.from(await t.throwsAsync(createClient(RegistryService, transportTo(remote)).registerAgent(registration)));
  t.is(refused.code, Code.PermissionDenied);
  t.regex(refused.rawMessage, /IIR_AGENT_TOKEN/);
  t.is(codeOf(await t.throwsAsync(createClient(HeartbeatService, transportTo(remote)).beat({ agentId: "a1" }))), Code.PermissionDenied);
  t.is(codeOf(await t.throwsAsync(createClient(RegistryService, transportTo(remote)).listAgents({}))), Code.Unauthenticated, "agent addresses are not for other machines' eyes");
  await createClient(RegistryService, transportTo(open.routerUrl)).registerAgent(registration);

  const closed = await meshWith(t, { IIR_ROUTER_HOST: "0.0.0.0", IIR_AGENT_TOKEN: agentToken, IIR_ADMIN_TOKEN: adminToken });
  const closedRemote = `http://${external}:${closed.routerPort}`;
  t.is(codeOf(await t.throwsAsync(createClient(RegistryService, transportTo(closed.routerUrl)).registerAgent(registration))), Code.Unauthenticated, "once set, loopback needs it too");
  t.is(codeOf(await t.throwsAsync(createClient(RegistryService, transportTo(closedRemote, "guess")).registerAgent(registration))), Code.PermissionDenied);
  t.is(codeOf(await t.throwsAsync(createClient(RegistryService, transportTo(closedRemote, adminToken)).registerAgent(registration))), Code.PermissionDenied, "the admin token is not the agent token");
  await createClient(RegistryService, transportTo(closedRemote, agentToken)).registerAgent(registration);
  const listed = await createClient(RegistryService, transportTo(closedRemote, adminToken)).listAgents({});
  t.deepEqual(listed.agents.map((agent) => agent.id), ["a1"]);
});

test("an agent answers inference only to its router: the agent token, or a caller on its own machine when none is set", async (t) => {
  const external = externalAddress(t);
  const mesh = await meshWith(t, { IIR_AGENT_TOKEN: agentToken, IIR_ROUTER_HOST: "0.0.0.0" });
  const agent = await startTestAgent(`http://${external}:${mesh.routerPort}`, { IIR_AGENT_TOKEN: agentToken, IIR_AGENT_HOST: "0.0.0.0" });
  t.teardown(() => agent.close(1000));
  const params = { model: agent.modelId, messages: hello, maxTokens: 2 };
  const direct = `http://${external}:${agent.port}`;
  t.is(codeOf(await t.throwsAsync(createClient(InferenceService, transportTo(direct)).chat({ params }))), Code.Unauthenticated);
  t.is(codeOf(await t.throwsAsync(createClient(InferenceService, transportTo(direct, "guess")).chat({ params }))), Code.PermissionDenied);
  t.is(codeOf(await t.throwsAsync(createClient(InferenceService, transportTo(`http://127.0.0.1:${agent.port}`)).chat({ params }))), Code.Unauthenticated, "with a token set, loopback needs it too");
  const answer = await new OpenAI({ baseURL: mesh.facadeUrl, apiKey: "unused", maxRetries: 0 }).chat.completions.create({ model: agent.modelId, messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
  t.is(answer.choices.length, 1, "the router, which presents the token, is served");

  // Without a token the agent answers callers on its own machine only, whatever interfaces it listens on.
  const loopbackMesh = await meshWith(t, {});
  const tokenless = await startTestAgent(loopbackMesh.routerUrl, { IIR_AGENT_HOST: "0.0.0.0", IIR_AGENT_ID: "tokenless" });
  t.teardown(() => tokenless.close(1000));
  const tokenlessParams = { ...params, model: tokenless.modelId };
  const outsider = ConnectError.from(await t.throwsAsync(createClient(InferenceService, transportTo(`http://${external}:${tokenless.port}`)).chat({ params: tokenlessParams })));
  t.is(outsider.code, Code.PermissionDenied);
  t.regex(outsider.rawMessage, /IIR_AGENT_TOKEN/);
  const local = await createClient(InferenceService, transportTo(`http://127.0.0.1:${tokenless.port}`)).chat({ params: tokenlessParams });
  t.is(local.backend, "tokenless");
});
