import test from "ava";
import OpenAI from "openai";
import { create } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ChatParamsSchema, InferenceService, Role } from "../gen/iir/inference/v1/inference_pb.js";
import { createOpenAICompatibleAdapter } from "../services/router/adapters/openai-compatible/openai-compatible-adapter.js";
import { failureOf, paramsWith, targetFor } from "./support/adapter-fixtures.js";
import { adminRegistry } from "./support/admin.js";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { startMesh, type TestMesh } from "./support/mesh.js";

// Request fields that change billing or routing at a provider go upstream only when the model's
// registry entry allows them; every other field a client sends still passes through.
const upstreamKey = "fake-policy-test-upstream-key";
let upstream: FakeUpstream;
let mesh: TestMesh;
let client: OpenAI;

test.before(async () => {
  upstream = await startFakeUpstream({ apiKey: upstreamKey });
  mesh = await startMesh({
    OPENAI_BASE_URL: upstream.baseUrl,
    EXTERNAL_OPENAI_KEY: upstreamKey,
    OPENROUTER_BASE_URL: upstream.baseUrl,
    EXTERNAL_OPENROUTER_KEY: upstreamKey,
  });
  client = new OpenAI({ baseURL: mesh.facadeUrl, apiKey: "unused", maxRetries: 0 });
});

test.after.always(async () => {
  await mesh?.close();
  await upstream?.close();
});

const hello = [{ role: "user" as const, content: "hello there" }];

function lastBody(): Record<string, unknown> {
  return upstream.lastRequest().body as Record<string, unknown>;
}

test.serial("openai/… names have no registry entry: service_tier, store and web search are dropped, the rest passes", async (t) => {
  const answer = await client.chat.completions.create({
    model: "openai/gpt-4o-mini",
    messages: hello,
    service_tier: "priority",
    store: true,
    web_search_options: {},
    metadata: { team: "search" },
    // @ts-expect-error a provider-specific field the SDK does not know
    top_k: 40,
  });
  t.is(answer.choices[0]?.message.content, "echo: hello there", "the request went ahead");
  const body = lastBody();
  for (const field of ["service_tier", "store", "web_search_options"]) t.false(field in body, field);
  t.deepEqual(body.metadata, { team: "search" });
  t.is(body.top_k, 40);
});

test.serial("a registry entry that allows service_tier lets it through, streaming or not, and still drops store", async (t) => {
  await adminRegistry(mesh.routerUrl).upsertModel({
    model: { name: "priority-4o", provider: "openai", upstreamModel: "gpt-4o", apiKeyEnv: "EXTERNAL_OPENAI_KEY", allowedRequestFields: ["service_tier"], enabled: true },
  });
  await client.chat.completions.create({ model: "priority-4o", messages: hello, service_tier: "priority", store: true });
  t.is(lastBody().service_tier, "priority");
  t.false("store" in lastBody());

  const stream = await client.chat.completions.create({ model: "priority-4o", messages: hello, service_tier: "flex", store: true, stream: true });
  for await (const chunk of stream) void chunk;
  t.is(lastBody().service_tier, "flex");
  t.false("store" in lastBody());
});

test.serial("OpenRouter's own routing and paid plugins are dropped for openrouter/… names", async (t) => {
  await client.chat.completions.create({
    model: "openrouter/gpt-fake",
    messages: hello,
    // @ts-expect-error OpenRouter's fields, unknown to the OpenAI SDK
    models: ["anthropic/claude-opus-4", "openai/o1-pro"],
    provider: { order: ["expensive"], allow_fallbacks: true },
    route: "fallback",
    transforms: ["middle-out"],
    plugins: [{ id: "web" }],
    top_k: 4,
  });
  const body = lastBody();
  for (const field of ["models", "provider", "route", "transforms", "plugins"]) t.false(field in body, field);
  t.is(body.model, "gpt-fake", "the model is the one IIR chose");
  t.is(body.top_k, 4);
});

test.serial("a gRPC client's extras meet the same policy", async (t) => {
  const inference = createClient(InferenceService, createGrpcTransport({ baseUrl: mesh.routerUrl }));
  const params = create(ChatParamsSchema, {
    model: "openai/gpt-4o-mini",
    messages: [{ role: Role.USER, content: { case: "text", value: "hello there" } }],
    extra: { service_tier: "priority", logprobs: true },
  });
  await inference.chat({ params });
  t.false("service_tier" in lastBody());
  t.is(lastBody().logprobs, true);
});

test.serial("UpsertModel refuses an api_key_env outside EXTERNAL_* and stores nothing", async (t) => {
  const registry = adminRegistry(mesh.routerUrl);
  const error = await failureOf(registry.upsertModel({ model: { name: "leaky", provider: "openai", apiKeyEnv: "AWS_SECRET_ACCESS_KEY", enabled: true } }));
  t.is(error.code, Code.InvalidArgument);
  t.regex(error.rawMessage, /api_key_env must name an EXTERNAL_\* environment variable .*got "AWS_SECRET_ACCESS_KEY"/);
  t.is((await failureOf(registry.getModel({ name: "leaky" }))).code, Code.NotFound);
});

test("the adapter logs, at debug, which controlled fields it dropped, and the request goes ahead", async (t) => {
  const own = await startFakeUpstream();
  t.teardown(() => own.close());
  const logged: Array<{ message: string; fields?: Record<string, unknown> }> = [];
  const adapter = createOpenAICompatibleAdapter({ timeoutMs: 5_000, logger: { debug: (message, fields) => void logged.push({ message, fields }) } });
  const answer = await adapter.chat(paramsWith({ extra: { service_tier: "priority", store: true, seed_hint: 1 } }), targetFor(own), AbortSignal.timeout(10_000));
  t.is(answer.choices.length, 1);
  t.like(logged, [{ fields: { backend: "openai", model: "gpt-fake", fields: ["service_tier", "store"] } }]);
  t.regex(logged[0]?.message ?? "", /dropped/);
  t.is((own.lastRequest().body as Record<string, unknown>).seed_hint, 1);

  logged.length = 0;
  await adapter.chat(paramsWith({ extra: { seed_hint: 1 } }), targetFor(own), AbortSignal.timeout(10_000));
  t.deepEqual(logged, [], "nothing dropped, nothing logged");
});
