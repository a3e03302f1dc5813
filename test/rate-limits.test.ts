import { randomUUID } from "node:crypto";
import test, { type ExecutionContext } from "ava";
import OpenAI from "openai";
import type { Kysely } from "kysely";
import { createClient } from "redis";
import { startFacade } from "../facade/server.js";
import { startRouter } from "../services/router/server.js";
import { createInProcessTransport } from "../services/common/in-process-transport.js";
import { createLogger } from "../services/common/logger.js";
import { createApiKey, type NewApiKey } from "../services/router/registry/api-keys.repository.js";
import { openDatabase } from "../services/router/registry/database.js";
import type { Database } from "../services/router/registry/schema.js";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { startMesh, type TestMesh, type TestMeshOptions } from "./support/mesh.js";
import { requireRedis, sharedRedisUrl } from "./support/redis-fixtures.js";

// Per-key requests and tokens per minute, kept by the router, in memory and shared through Redis.

let upstream: FakeUpstream;

test.before(async () => {
  upstream = await startFakeUpstream();
});

test.after.always(async () => {
  await upstream?.close();
});

// The fake's usage for this request: 2 prompt words + 3 answer deltas ("echo:", "hello", "there").
const hello = [{ role: "user" as const, content: "hello there" }];
const tokensPerHello = 5;

interface Setup {
  readonly mesh: TestMesh;
  readonly keys: Record<string, string>;
}

/** A mesh with `keys` created in its registry, returning once its facade enforces them. */
async function setUp(t: ExecutionContext, env: Record<string, string>, keys: NewApiKey[], options: TestMeshOptions = {}): Promise<Setup> {
  const mesh = await startMesh({ OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-upstream", ...env }, options);
  t.teardown(() => mesh.close());
  const db: Kysely<Database> = openDatabase(mesh.dbPath);
  const created: Record<string, string> = {};
  try {
    for (const key of keys) created[key.name] = (await createApiKey(db, key)).key;
  } finally {
    await db.destroy();
  }
  await eventuallyRefusesKeyless(mesh.facadeUrl);
  return { mesh, keys: created };
}

/** Returns once a keyless request is refused: the router has loaded the keys. It counts against none of them. */
async function eventuallyRefusesKeyless(facadeUrl: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while ((await fetch(`${facadeUrl}/models`)).status !== 401) {
    if (Date.now() > deadline) throw new Error("the router never loaded the keys");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function chat(facadeUrl: string, key: string, body: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${facadeUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: "openai/gpt-4o-mini", messages: hello, ...body }),
  });
}

/** Sends a chat request, reads the whole answer (so its tokens are counted), returns status and headers. */
async function call(facadeUrl: string, key: string, body: Record<string, unknown> = {}) {
  const response = await chat(facadeUrl, key, body);
  const text = await response.text();
  // Tokens are added when the response closes on the server; give that a moment to land.
  await new Promise((resolve) => setTimeout(resolve, 30));
  return { status: response.status, headers: response.headers, text };
}

// OpenAI's format: "250ms", "8.64s", "1m0s".
const resetFormat = /^(\d+ms|(\d+m)?\d+(\.\d+)?s)$/;

test("requests per minute: OpenAI's headers count down, then 429 with Retry-After; other keys are unaffected", async (t) => {
  const { mesh, keys } = await setUp(t, {}, [{ name: "small", rpm: 2 }, { name: "other", rpm: 5 }]);
  const probe = { messages: [{ role: "user", content: `rpm probe ${randomUUID()}` }] };
  const first = await call(mesh.facadeUrl, keys.small!, probe);
  t.is(first.status, 200);
  t.is(first.headers.get("x-ratelimit-limit-requests"), "2");
  t.is(first.headers.get("x-ratelimit-remaining-requests"), "1");
  t.regex(first.headers.get("x-ratelimit-reset-requests") ?? "", resetFormat);
  t.is(first.headers.get("x-ratelimit-limit-tokens"), null, "no token limit applies, so no token headers");
  const second = await call(mesh.facadeUrl, keys.small!, probe);
  t.is(second.headers.get("x-ratelimit-remaining-requests"), "0");

  const client = new OpenAI({ baseURL: mesh.facadeUrl, apiKey: keys.small!, maxRetries: 0 });
  const refused = await t.throwsAsync(client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: probe.messages[0]!.content }] }));
  t.true(refused instanceof OpenAI.RateLimitError);
  const error = refused as InstanceType<typeof OpenAI.RateLimitError>;
  t.is(error.status, 429);
  t.is(error.type, "requests");
  t.is(error.code, "rate_limit_exceeded");
  t.regex(error.message, /Rate limit reached for requests per min \(RPM\) on API key "small": Limit 2, Used 2, Requested 1\. Please try again in \S+s\./);
  const retryAfter = Number(error.headers?.get("retry-after"));
  t.true(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
  t.is(error.headers?.get("x-ratelimit-remaining-requests"), "0");
  const reached = upstream.requests.filter((request) => JSON.stringify(request.body).includes(probe.messages[0]!.content));
  t.is(reached.length, 2, "the refused request never reached a backend");

  const other = await call(mesh.facadeUrl, keys.other!);
  t.is(other.status, 200);
  t.is(other.headers.get("x-ratelimit-remaining-requests"), "4");
});

test("RATE_LIMIT_REQUESTS applies to keys without their own limit; a key's own rpm overrides it", async (t) => {
  const { mesh, keys } = await setUp(t, { RATE_LIMIT_REQUESTS: "1" }, [{ name: "plain" }, { name: "vip", rpm: 3 }]);
  t.is((await call(mesh.facadeUrl, keys.plain!)).status, 200);
  const refused = await call(mesh.facadeUrl, keys.plain!);
  t.is(refused.status, 429);
  t.like(JSON.parse(refused.text), { error: { type: "requests", param: null, code: "rate_limit_exceeded" } });
  for (const remaining of ["2", "1", "0"]) t.is((await call(mesh.facadeUrl, keys.vip!)).headers.get("x-ratelimit-remaining-requests"), remaining);
  t.is((await call(mesh.facadeUrl, keys.vip!)).status, 429);
});

test("tokens per minute: prompt + completion tokens of finished requests, streams included, exhaust the budget", async (t) => {
  const { mesh, keys } = await setUp(t, { RATE_LIMIT_TOKENS: "8" }, [{ name: "reader" }, { name: "roomy", tpm: 1000 }]);
  const first = await call(mesh.facadeUrl, keys.reader!);
  t.is(first.status, 200);
  t.is(first.headers.get("x-ratelimit-limit-tokens"), "8");
  t.is(first.headers.get("x-ratelimit-remaining-tokens"), "8");
  t.is(first.headers.get("x-ratelimit-reset-tokens"), "0s", "no tokens counted yet, no window running");
  t.is(first.headers.get("x-ratelimit-limit-requests"), null, "no request limit applies, so no request headers");
  const streamed = await call(mesh.facadeUrl, keys.reader!, { stream: true, stream_options: { include_usage: true } });
  t.is(streamed.status, 200);
  t.regex(streamed.text, /data: \[DONE\]/);
  t.is(streamed.headers.get("x-ratelimit-remaining-tokens"), String(8 - tokensPerHello));
  t.regex(streamed.headers.get("x-ratelimit-reset-tokens") ?? "", resetFormat);

  const refused = await call(mesh.facadeUrl, keys.reader!);
  t.is(refused.status, 429);
  const body = JSON.parse(refused.text) as { error: { message: string; type: string; code: string } };
  t.is(body.error.type, "tokens");
  t.is(body.error.code, "rate_limit_exceeded");
  t.regex(body.error.message, new RegExp(`^Rate limit reached for tokens per min \\(TPM\\) on API key "reader": Limit 8, Used ${2 * tokensPerHello}\\.`));
  t.true(Number(refused.headers.get("retry-after")) >= 1);
  t.is(refused.headers.get("x-ratelimit-remaining-tokens"), "0");

  const roomy = await call(mesh.facadeUrl, keys.roomy!);
  t.is(roomy.headers.get("x-ratelimit-limit-tokens"), "1000", "a key's own tpm overrides RATE_LIMIT_TOKENS");
});

test("two routers sharing Redis spend one budget per key", async (t) => {
  if (!(await requireRedis(t))) return;
  const prefix = `iir-test-${randomUUID()}:`;
  const { mesh, keys } = await setUp(t, { REDIS_URL: sharedRedisUrl, REDIS_KEY_PREFIX: prefix }, [{ name: "shared", rpm: 3 }, { name: "tokens", tpm: 5 }]);
  // A second router on the same registry and Redis, with a facade of its own: a replica.
  const logger = createLogger({ level: "silent", name: "test" });
  const router = await startRouter(mesh.config, logger);
  t.teardown(() => router.close(1000));
  const second = await startFacade({ config: mesh.config, transport: createInProcessTransport(router.routes, { interceptors: router.interceptors }), logger });
  t.teardown(() => second.close(1000));
  await eventuallyRefusesKeyless(`http://127.0.0.1:${second.port}/v1`);
  const facades = [mesh.facadeUrl, `http://127.0.0.1:${second.port}/v1`] as const;
  const redis = createClient({ url: sharedRedisUrl });
  await redis.connect();
  t.teardown(async () => {
    const written = await redis.keys(`${prefix}*`);
    if (written.length > 0) await redis.del(written);
    redis.destroy();
  });

  const remaining: (string | null)[] = [];
  for (const facade of [facades[0], facades[1], facades[0]]) remaining.push((await call(facade, keys.shared!)).headers.get("x-ratelimit-remaining-requests"));
  t.deepEqual(remaining, ["2", "1", "0"], "each router sees the requests the other counted");
  const refused = await call(facades[1], keys.shared!);
  t.is(refused.status, 429);
  t.is(JSON.parse(refused.text).error.type, "requests");

  t.is((await call(facades[0], keys.tokens!)).status, 200);
  const tokensRefused = await call(facades[1], keys.tokens!);
  t.is(tokensRefused.status, 429, "tokens one router counted exhaust the budget at the other");
  t.is(JSON.parse(tokensRefused.text).error.type, "tokens");

  const stored = await redis.keys(`${prefix}ratelimit:*`);
  t.is(stored.length, 3, "requests and tokens counters under the configured prefix");
  for (const name of stored) {
    const ttl = await redis.pTTL(name);
    t.true(ttl > 0 && ttl <= 60_000, `${name} expires with its window`);
  }
});

test("with Redis unreachable requests still succeed, unlimited, and the outage is logged once", async (t) => {
  const lines: string[] = [];
  const { mesh, keys } = await setUp(t, { REDIS_URL: "redis://127.0.0.1:1", LOG_LEVEL: "info" }, [{ name: "strict", rpm: 1 }], { writeLog: (line) => void lines.push(line) });
  const url = mesh.facadeUrl;
  for (let attempt = 0; attempt < 3; attempt++) {
    const answer = await call(url, keys.strict!);
    t.is(answer.status, 200, "fail open: a rate-limit store outage never refuses a request");
    t.is(answer.headers.get("x-ratelimit-limit-requests"), null);
  }
  const warnings = lines.filter((line) => line.includes("rate limits suspended"));
  t.is(warnings.length, 1, lines.join(""));
  t.regex(warnings[0] ?? "", /"level":"warn"/);
  t.regex(warnings[0] ?? "", /redis:\/\/127\.0\.0\.1:1/);
});

test("embeddings spend the same per-minute budget as chat", async (t) => {
  const { mesh, keys } = await setUp(t, {}, [{ name: "one", rpm: 1 }]);
  t.is((await call(mesh.facadeUrl, keys.one!)).status, 200);
  const response = await fetch(`${mesh.facadeUrl}/embeddings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${keys.one!}` },
    body: JSON.stringify({ model: "openai/text-embedding-3-small", input: "hello" }),
  });
  t.is(response.status, 429);
  const body = (await response.json()) as { error: { code: string } };
  t.is(body.error.code, "rate_limit_exceeded");
});
