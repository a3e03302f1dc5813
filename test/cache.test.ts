import { randomUUID } from "node:crypto";
import test, { type ExecutionContext } from "ava";
import OpenAI from "openai";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { startMesh, type TestMesh } from "./support/mesh.js";
import { createClient } from "redis";
import { chatParamsFromOpenAIRequest } from "../facade/translate/convert-from-openai-request.js";
import { cacheKeyFor } from "../services/router/cache/cache-key.js";
import { disposableRedis, requireRedis, sharedRedisUrl } from "./support/redis-fixtures.js";

// The response cache, in memory and in real Redis: repeat prompts are answered without the backend.

async function setUp(t: ExecutionContext, env: Record<string, string> = {}): Promise<{ upstream: FakeUpstream; mesh: TestMesh; client: OpenAI }> {
  const upstream = await startFakeUpstream();
  t.teardown(() => upstream.close());
  const mesh = await startMesh({ OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-test", CACHE_TTL: "60", ...env });
  t.teardown(() => mesh.close());
  return { upstream, mesh, client: new OpenAI({ baseURL: mesh.facadeUrl, apiKey: "unused", maxRetries: 0 }) };
}

/** A prompt no other test (or earlier run against the shared Redis) has sent. */
function freshPrompt(): string {
  return `question ${randomUUID()}`;
}

/** The Redis key the router stores a chat request's answer under, for callers of an open router by default. */
function cacheKeyOf(body: string, scope = "open"): string {
  return `iir:cache:${scope}:${cacheKeyFor(chatParamsFromOpenAIRequest(JSON.parse(body)).params)}`;
}

/** Waits (up to 5 s) until the shared Redis holds `key`. */
async function untilStoredInRedis(t: ExecutionContext, key: string): Promise<void> {
  const client = createClient({ url: sharedRedisUrl });
  await client.connect();
  try {
    const deadline = Date.now() + 5000;
    while ((await client.exists(key)) === 0) {
      if (Date.now() > deadline) {
        t.fail(`${key} never reached Redis`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    await client.quit();
  }
}

async function post(mesh: TestMesh, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${mesh.facadeUrl}/chat/completions`, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
  return { response, text: await response.text() };
}

for (const store of ["memory", "redis"] as const) {
  const envFor = (): Record<string, string> => (store === "redis" ? { REDIS_URL: sharedRedisUrl } : {});

  test(`${store}: a repeat request is a hit that skips the backend, whatever the field order or whitespace`, async (t) => {
    if (store === "redis" && !(await requireRedis(t))) return;
    const { upstream, mesh } = await setUp(t, envFor());
    const prompt = freshPrompt();
    const first = await post(mesh, JSON.stringify({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: prompt }], temperature: 0, top_p: 0.9 }));
    t.is(first.response.headers.get("x-iir-cache"), "miss");
    const reordered = `{ "top_p": 0.9, "temperature" : 0,\n  "messages": [ { "content": ${JSON.stringify(prompt)}, "role": "user" } ], "model": "openai/gpt-4o-mini" }`;
    const second = await post(mesh, reordered);
    t.is(second.response.headers.get("x-iir-cache"), "hit");
    t.is(JSON.parse(second.text).choices[0].message.content, `echo: ${prompt}`);
    t.is(upstream.requests.length, 1, "the backend saw one request for two identical calls");
    const different = await post(mesh, JSON.stringify({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: prompt }], temperature: 0, top_p: 0.8 }));
    t.is(different.response.headers.get("x-iir-cache"), "miss", "a sampling parameter is part of the key");
  });

  test(`${store}: a streamed answer is stored and replayed as a proper stream the SDK reads`, async (t) => {
    if (store === "redis" && !(await requireRedis(t))) return;
    const { upstream, client } = await setUp(t, envFor());
    const messages = [{ role: "user" as const, content: freshPrompt() }];
    const read = async () => {
      const { data: stream, response } = await client.chat.completions
        .create({ model: "openai/gpt-4o-mini", messages, temperature: 0, stream: true, stream_options: { include_usage: true } })
        .withResponse();
      let text = "";
      let finish: string | null = null;
      let usage: OpenAI.CompletionUsage | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? "";
        finish = chunk.choices[0]?.finish_reason ?? finish;
        if (chunk.usage) usage = chunk.usage;
      }
      return { text, finish, usage, cache: response.headers.get("x-iir-cache"), backend: response.headers.get("x-iir-backend") };
    };
    const miss = await read();
    const hit = await read();
    t.is(miss.cache, "miss");
    t.is(hit.cache, "hit");
    t.is(hit.text, miss.text);
    t.is(hit.finish, "stop");
    t.deepEqual(hit.usage, miss.usage);
    t.is(hit.backend, "openai");
    const whole = await client.chat.completions.create({ model: "openai/gpt-4o-mini", messages, temperature: 0 }).withResponse();
    t.is(whole.response.headers.get("x-iir-cache"), "hit", "a non-streaming request hits what a stream stored");
    t.is(whole.data.choices[0]?.message.content, miss.text);
    t.is(upstream.requests.length, 1);
  });

  test(`${store}: Cache-Control no-cache skips the lookup but stores; no-store does neither`, async (t) => {
    if (store === "redis" && !(await requireRedis(t))) return;
    const { upstream, mesh } = await setUp(t, envFor());
    const body = JSON.stringify({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: freshPrompt() }], temperature: 0 });
    t.is((await post(mesh, body)).response.headers.get("x-iir-cache"), "miss");
    t.is((await post(mesh, body, { "cache-control": "no-cache" })).response.headers.get("x-iir-cache"), "miss");
    t.is(upstream.requests.length, 2);
    const fresh = JSON.stringify({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: freshPrompt() }], temperature: 0 });
    t.is((await post(mesh, fresh, { "cache-control": "no-store" })).response.headers.get("x-iir-cache"), "bypass");
    t.is((await post(mesh, fresh)).response.headers.get("x-iir-cache"), "miss", "no-store stored nothing");
    t.is(upstream.requests.length, 4);
  });

  test(`${store}: errors, failed streams and cancelled streams are never stored`, async (t) => {
    if (store === "redis" && !(await requireRedis(t))) return;
    const { upstream, client } = await setUp(t, envFor());
    const messages = [{ role: "user" as const, content: freshPrompt() }];
    for (let round = 0; round < 2; round++) {
      await t.throwsAsync(client.chat.completions.create({ model: "openai/fail-500", messages, temperature: 0 }));
      await t.throwsAsync(async () => {
        for await (const chunk of await client.chat.completions.create({ model: "openai/error-mid-stream", messages, temperature: 0, stream: true })) void chunk;
      });
    }
    t.is(upstream.requests.length, 4, "every failed request went to the backend again");
    const controller = new AbortController();
    const closed = upstream.whenClosedByClient();
    const stream = await client.chat.completions.create({ model: "openai/hang-mid-stream", messages, temperature: 0, stream: true }, { signal: controller.signal });
    await stream[Symbol.asyncIterator]().next();
    controller.abort();
    await closed;
    upstream.script({ kind: "answer", text: "the real answer" });
    const after = await client.chat.completions.create({ model: "openai/hang-mid-stream", messages, temperature: 0 }).withResponse();
    t.is(after.response.headers.get("x-iir-cache"), "miss");
    t.is(after.data.choices[0]?.message.content, "the real answer");
  });

  test(`${store}: an answer expires after CACHE_TTL`, async (t) => {
    if (store === "redis" && !(await requireRedis(t))) return;
    const { upstream, mesh } = await setUp(t, { ...envFor(), CACHE_TTL: "1" });
    const body = JSON.stringify({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: freshPrompt() }], temperature: 0 });
    await post(mesh, body);
    t.is((await post(mesh, body)).response.headers.get("x-iir-cache"), "hit");
    await new Promise((resolve) => setTimeout(resolve, 1300));
    t.is((await post(mesh, body)).response.headers.get("x-iir-cache"), "miss");
    t.is(upstream.requests.length, 2);
  });
}

test("CACHE_TTL=0 turns the cache off: every response says bypass", async (t) => {
  const { upstream, mesh } = await setUp(t, { CACHE_TTL: "0" });
  const body = JSON.stringify({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "same" }], temperature: 0 });
  t.is((await post(mesh, body)).response.headers.get("x-iir-cache"), "bypass");
  t.is((await post(mesh, body)).response.headers.get("x-iir-cache"), "bypass");
  t.is(upstream.requests.length, 2);
});

test("the in-memory cache holds at most CACHE_MAX_ENTRIES answers, dropping the least recently used", async (t) => {
  const { upstream, mesh } = await setUp(t, { CACHE_MAX_ENTRIES: "2" });
  const bodies = [1, 2, 3].map((index) => JSON.stringify({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: `entry ${index}` }], temperature: 0 }));
  await post(mesh, bodies[0]!);
  await post(mesh, bodies[1]!);
  t.is((await post(mesh, bodies[0]!)).response.headers.get("x-iir-cache"), "hit", "entry 1 is now the most recently used");
  await post(mesh, bodies[2]!);
  t.is((await post(mesh, bodies[0]!)).response.headers.get("x-iir-cache"), "hit");
  t.is((await post(mesh, bodies[1]!)).response.headers.get("x-iir-cache"), "miss", "entry 2 was evicted");
  t.is(upstream.requests.length, 4);
});

test("Redis stopped mid-test: requests still succeed, and answers reach Redis again once it is back", async (t) => {
  const redis = await disposableRedis(t);
  await redis.start();
  const { upstream, mesh } = await setUp(t, { REDIS_URL: redis.url, CACHE_TIMEOUT_MS: "50" });
  const bodyFor = (prompt: string) => JSON.stringify({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: prompt }], temperature: 0 });
  const storedInRedis = () => redis.keyCount("iir:cache:*");
  // The first request may race the client's first connection; answers land in Redis once it is up.
  const deadline = Date.now() + 5000;
  while ((await storedInRedis()) === 0 && Date.now() < deadline) await post(mesh, bodyFor(freshPrompt()));
  t.true((await storedInRedis()) > 0);

  await redis.stop();
  const whileDown = freshPrompt();
  for (let index = 0; index < 3; index++) {
    const { response, text } = await post(mesh, bodyFor(whileDown));
    t.is(response.status, 200, "a dead Redis never fails a request");
    t.is(JSON.parse(text).choices[0].message.content, `echo: ${whileDown}`);
  }
  const served = upstream.requests.length;
  t.is((await post(mesh, bodyFor(whileDown))).response.headers.get("x-iir-cache"), "hit", "the in-process tier still answers");
  t.is(upstream.requests.length, served);

  await redis.start();
  const reconnectBy = Date.now() + 15_000;
  while ((await storedInRedis()) === 0 && Date.now() < reconnectBy) {
    await post(mesh, bodyFor(freshPrompt()));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.true((await storedInRedis()) > 0, "the client reconnected by itself and stores again");
});

test("redis: a second router sharing the Redis answers what the first one stored", async (t) => {
  if (!(await requireRedis(t))) return;
  const { upstream, mesh: first } = await setUp(t, { REDIS_URL: sharedRedisUrl });
  const second = await startMesh({ OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-test", CACHE_TTL: "60", REDIS_URL: sharedRedisUrl });
  t.teardown(() => second.close());
  const body = JSON.stringify({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: freshPrompt() }], temperature: 0 });
  t.is((await post(first, body)).response.headers.get("x-iir-cache"), "miss");
  // The first router writes to Redis behind its answer: wait for the entry, as a later caller would find it.
  await untilStoredInRedis(t, cacheKeyOf(body));
  const shared = await post(second, body);
  t.is(shared.response.headers.get("x-iir-cache"), "hit", "found in Redis: the second router's own memory was empty");
  t.is(upstream.requests.length, 1);
});
