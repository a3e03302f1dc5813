import { randomUUID } from "node:crypto";
import test, { type ExecutionContext } from "ava";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createClient as createRedisClient } from "redis";
import { InferenceService, Role } from "../gen/iir/inference/v1/inference_pb.js";
import { createApiKey } from "../services/router/registry/api-keys.repository.js";
import { openDatabase } from "../services/router/registry/database.js";
import { adminRegistry } from "./support/admin.js";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { startMesh, type TestMesh } from "./support/mesh.js";
import { requireRedis, sharedRedisUrl } from "./support/redis-fixtures.js";

// Which answers the response cache may give, end to end: requests that sample draw afresh unless the
// caller or the model's registry entry opts in, and API keys do not share answers unless
// CACHE_SCOPE=global.

async function setUp(t: ExecutionContext, env: Record<string, string> = {}): Promise<{ upstream: FakeUpstream; mesh: TestMesh }> {
  const upstream = await startFakeUpstream();
  t.teardown(() => upstream.close());
  const mesh = await startMesh({ OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-test", CACHE_TTL: "60", ...env });
  t.teardown(() => mesh.close());
  return { upstream, mesh };
}

async function post(mesh: TestMesh, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const response = await fetch(`${mesh.facadeUrl}/chat/completions`, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json", ...headers },
  });
  const text = await response.text();
  return { status: response.status, cache: response.headers.get("x-iir-cache"), text };
}

/** A request no other test has sent, with any further fields. */
function ask(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: "openai/gpt-4o-mini", messages: [{ role: "user", content: `question ${randomUUID()}` }], ...fields };
}

/** Creates API keys in the mesh's registry, as `iir keys create` does, and waits until the mesh asks for one. */
async function createKeys(t: ExecutionContext, mesh: TestMesh, names: readonly string[]): Promise<Array<{ key: string; id: string }>> {
  const admin = openDatabase(mesh.dbPath);
  t.teardown(() => admin.destroy());
  const keys: Array<{ key: string; id: string }> = [];
  for (const name of names) {
    const { key, record } = await createApiKey(admin, { name });
    keys.push({ key, id: record.id });
  }
  const deadline = Date.now() + 5000;
  while ((await post(mesh, ask({ temperature: 0 }))).status !== 401) {
    if (Date.now() > deadline) throw new Error("the mesh never noticed its API keys");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return keys;
}

/** Waits (up to 5 s) until the shared Redis holds a key matching `pattern`; whether it does. */
async function untilRedisHolds(pattern: string): Promise<boolean> {
  const client = createRedisClient({ url: sharedRedisUrl });
  await client.connect();
  try {
    // The router writes to Redis behind its answer.
    const deadline = Date.now() + 5000;
    while ((await client.keys(pattern)).length === 0) {
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return true;
  } finally {
    await client.quit();
  }
}

test("a request that samples (no temperature, or one above 0, and no seed) is answered bypass and reaches the backend each time", async (t) => {
  const { upstream, mesh } = await setUp(t);
  for (const body of [ask(), ask({ temperature: 1 }), ask({ temperature: 0.7, stream: true })]) {
    t.is((await post(mesh, body)).cache, "bypass");
    t.is((await post(mesh, body)).cache, "bypass");
  }
  t.is(upstream.requests.length, 6);
  const seeded = ask({ temperature: 0.7, seed: 42 });
  t.is((await post(mesh, seeded)).cache, "miss");
  t.is((await post(mesh, seeded)).cache, "hit", "a seed asks for a repeatable answer");
  t.is(upstream.requests.length, 7);
});

for (const store of ["memory", "redis"] as const) {
  test(`${store}: a model whose registry entry has cache_sampled caches its sampling requests`, async (t) => {
    if (store === "redis" && !(await requireRedis(t))) return;
    const { upstream, mesh } = await setUp(t, store === "redis" ? { REDIS_URL: sharedRedisUrl } : {});
    const registry = adminRegistry(mesh.routerUrl);
    await registry.upsertModel({ model: { name: "team/faq", provider: "openai", upstreamModel: "gpt-4o-mini", enabled: true, cacheSampled: true } });
    await registry.upsertModel({ model: { name: "team/chat", provider: "openai", upstreamModel: "gpt-4o-mini", enabled: true } });
    const faq = ask({ model: "team/faq", temperature: 0.9 });
    t.is((await post(mesh, faq)).cache, "miss");
    const again = await post(mesh, faq);
    t.is(again.cache, "hit");
    t.regex(JSON.parse(again.text).choices[0].message.content, /^echo: question /);
    const chat = ask({ model: "team/chat", temperature: 0.9 });
    t.is((await post(mesh, chat)).cache, "bypass", "a model without the flag");
    t.is((await post(mesh, chat)).cache, "bypass");
    t.is(upstream.requests.length, 3);
  });
}

test("a gRPC caller opts a sampling request in with the iir-cache-sampled: true header", async (t) => {
  const { upstream, mesh } = await setUp(t);
  const inference = createClient(InferenceService, createGrpcTransport({ baseUrl: mesh.routerUrl }));
  const params = { model: "openai/gpt-4o-mini", temperature: 1, messages: [{ role: Role.USER, content: { case: "text" as const, value: `question ${randomUUID()}` } }] };
  const chat = async (headers: Record<string, string>): Promise<string | null> => {
    let cache: string | null = null;
    await inference.chat({ params }, { headers, onHeader: (header) => (cache = header.get("iir-cache")) });
    return cache;
  };
  t.is(await chat({ "iir-cache-sampled": "true" }), "miss");
  t.is(await chat({ "iir-cache-sampled": "true" }), "hit");
  t.is(await chat({}), "bypass", "without the header the same request draws afresh");
  t.is(upstream.requests.length, 2);
});

test("an HTTP client opts a sampling request in with x-iir-cache-sampled: true", async (t) => {
  const { upstream, mesh } = await setUp(t);
  const body = ask({ temperature: 1 });
  t.is((await post(mesh, body, { "x-iir-cache-sampled": "true" })).cache, "miss");
  t.is((await post(mesh, body, { "x-iir-cache-sampled": "true" })).cache, "hit");
  t.is((await post(mesh, body)).cache, "bypass");
  t.is(upstream.requests.length, 2);
});

for (const store of ["memory", "redis"] as const) {
  test(`${store}: two API keys do not get each other's answers through the facade`, async (t) => {
    if (store === "redis" && !(await requireRedis(t))) return;
    const { upstream, mesh } = await setUp(t, store === "redis" ? { REDIS_URL: sharedRedisUrl } : {});
    const [first, second] = await createKeys(t, mesh, ["team-a", "team-b"]);
    const body = ask({ temperature: 0 });
    const before = upstream.requests.length;
    t.is((await post(mesh, body, { authorization: `Bearer ${first!.key}` })).cache, "miss");
    t.is((await post(mesh, body, { authorization: `Bearer ${first!.key}` })).cache, "hit");
    t.is((await post(mesh, body, { authorization: `Bearer ${second!.key}` })).cache, "miss", "team-b does not learn what team-a asked");
    t.is(upstream.requests.length - before, 2);
    if (store === "redis") t.true(await untilRedisHolds(`iir:cache:key-${first!.id}:*`), "Redis keys carry the API key's scope");
  });
}

test("with CACHE_SCOPE=global two API keys share answers through the facade", async (t) => {
  const { upstream, mesh } = await setUp(t, { CACHE_SCOPE: "global" });
  const [first, second] = await createKeys(t, mesh, ["team-a", "team-b"]);
  const body = ask({ temperature: 0 });
  const before = upstream.requests.length;
  t.is((await post(mesh, body, { authorization: `Bearer ${first!.key}` })).cache, "miss");
  const shared = await post(mesh, body, { authorization: `Bearer ${second!.key}` });
  t.is(shared.status, 200);
  t.is(shared.cache, "hit");
  t.is(upstream.requests.length - before, 1);
});
