import { randomBytes } from "node:crypto";
import test, { type ExecutionContext } from "ava";
import { createClient as createRedisClient } from "redis";
import { createLogger } from "../services/common/logger.js";
import { createRedisConcurrencyLimiter } from "../services/router/rate-limit/redis-concurrency-limiter.js";
import { spawnIir, type IirProcess } from "./support/iir-process.js";
import { adminRegistry, testAdminToken } from "./support/admin.js";
import { tinyModel } from "./support/agent-fixtures.js";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { freshPostgresSchema, requirePostgres } from "./support/postgres-fixtures.js";
import { freePort, stopOnTeardown } from "./support/process-fixtures.js";
import { requireRedis, sharedRedisUrl } from "./support/redis-fixtures.js";

// Two `iir router` and two `iir facade` processes sharing one Postgres registry (a schema of this
// test's own) and one Redis (a key prefix of this test's own), as the scaled mode runs them.

let upstream: FakeUpstream;

test.before(async () => {
  upstream = await startFakeUpstream();
});

test.after.always(async () => {
  await upstream?.close();
});

interface Replicas {
  readonly routers: readonly [Replica, Replica];
  /** Facade i talks to router i. */
  readonly facades: readonly [string, string];
}

interface Replica {
  readonly process: IirProcess;
  readonly url: string;
}

/** Deletes every Redis key under `prefix` when the test ends. */
function cleanRedisOnTeardown(t: ExecutionContext, prefix: string): void {
  t.teardown(async () => {
    const client = createRedisClient({ url: sharedRedisUrl });
    await client.connect();
    try {
      for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 100 })) if (keys.length > 0) await client.del(keys);
    } finally {
      client.destroy();
    }
  });
}

async function startReplicas(t: ExecutionContext, env: Record<string, string> = {}): Promise<Replicas> {
  const { url } = await freshPostgresSchema(t);
  const prefix = `iir-test-${randomBytes(6).toString("hex")}:`;
  cleanRedisOnTeardown(t, prefix);
  const shared = {
    IIR_HOST: "127.0.0.1",
    DATABASE_URL: url,
    REDIS_URL: sharedRedisUrl,
    REDIS_KEY_PREFIX: prefix,
    IIR_ADMIN_TOKEN: testAdminToken,
    OPENAI_BASE_URL: upstream.baseUrl,
    EXTERNAL_OPENAI_KEY: "sk-test",
    HEARTBEAT_INTERVAL: "1",
    ...env,
  };
  const startRouter = async (): Promise<Replica> => {
    const port = await freePort();
    const process = stopOnTeardown(t, spawnIir(["router"], { ...shared, IIR_ROUTER_PORT: String(port) }));
    await process.waitForLog("router started");
    return { process, url: `http://127.0.0.1:${port}` };
  };
  // One after the other: the first migrates the fresh schema (concurrent starts are safe too, but slower to read in a failure).
  const routers = [await startRouter(), await startRouter()] as const;
  const startFacade = async (router: Replica): Promise<string> => {
    const port = await freePort();
    const process = stopOnTeardown(t, spawnIir(["facade", "--router", router.url], { ...shared, IIR_FACADE_PORT: String(port) }));
    await process.waitForLog("facade started");
    return `http://127.0.0.1:${port}`;
  };
  const facades = (await Promise.all(routers.map(startFacade))) as unknown as [string, string];
  return { routers, facades };
}

async function chat(facade: string, body: Record<string, unknown>, key?: string, signal?: AbortSignal): Promise<Response> {
  return fetch(`${facade}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) },
    body: JSON.stringify({ messages: [{ role: "user", content: "hello" }], ...body }),
    signal,
  });
}

/** Polls until `check` holds; generous, since CI machines are slow and shared. */
async function eventually(check: () => Promise<boolean>, withinMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return check();
}

const modelsStatus = async (facade: string, key: string) => (await fetch(`${facade}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status;

test.serial("an agent of router A serves facade B; keys, their revocation, rate limits and the cache are one across the replicas", async (t) => {
  if (!(await requirePostgres(t)) || !(await requireRedis(t))) return;
  const { routers, facades } = await startReplicas(t);

  const agentId = `replica-agent-${randomBytes(3).toString("hex")}`;
  const agent = stopOnTeardown(
    t,
    spawnIir(["agent", "--router", routers[0].url], {
      IIR_HOST: "127.0.0.1",
      IIR_AGENT_PORT: String(await freePort()),
      IIR_AGENT_MODEL: await tinyModel(),
      IIR_AGENT_ID: agentId,
      IIR_AGENT_THREADS: "1",
      IIR_AGENT_GPU: "false",
      HEARTBEAT_INTERVAL: "1",
    }),
  );
  await agent.waitForLog("agent registered");
  let answered: Response | undefined;
  const served = await eventually(async () => {
    answered = await chat(facades[1], { model: "local/iir-tiny", max_tokens: 4, temperature: 0 });
    return answered.status === 200;
  });
  t.true(served, `facade B → router B reached the agent registered with router A (last status ${answered?.status}: ${await answered?.clone().text()})`);
  t.is(answered?.headers.get("x-iir-backend"), agentId);

  // A key created through router A works through facade B, and the per-minute budget is one.
  const admin = adminRegistry(routers[0].url);
  const created = await admin.createApiKey({ name: "shared-team", rpm: 4 });
  const key = created.secret;
  // Until router B has read a key it is open to anyone: wait for it to refuse a wrong one first.
  t.true(await eventually(async () => (await modelsStatus(facades[1], "iir-not-a-key")) === 401), "router B learned that keys exist");
  t.is(await modelsStatus(facades[1], key), 200, "and takes the key created through router A");
  const statuses: number[] = [];
  for (let index = 0; index < 8; index++) {
    const response = await chat(facades[index % 2]!, { model: "openai/gpt-4o-mini", messages: [{ role: "user", content: `budget ${index}` }] }, key);
    statuses.push(response.status);
    await response.arrayBuffer();
  }
  t.deepEqual(statuses, [200, 200, 200, 200, 429, 429, 429, 429], "4 requests a minute across both facades, not 4 each");

  // The response cache is shared through Redis: an answer computed behind facade A is a hit behind facade B.
  const cacheKey = (await admin.createApiKey({ name: "cache-team" })).secret;
  t.true(await eventually(async () => (await modelsStatus(facades[1], cacheKey)) === 200));
  const before = upstream.requests.length;
  const body = { model: "openai/gpt-4o-mini", temperature: 0, messages: [{ role: "user", content: `cached ${randomBytes(4).toString("hex")}` }] };
  const first = await (await chat(facades[0], body, cacheKey)).json() as { choices: Array<{ message: { content: string } }> };
  const second = await (await chat(facades[1], body, cacheKey)).json() as { choices: Array<{ message: { content: string } }> };
  t.is(second.choices[0]?.message.content, first.choices[0]?.message.content);
  t.is(upstream.requests.length, before + 1, "the second replica answered from the shared cache");

  // Revoked through router A, the key is refused by facade B too.
  t.is(await modelsStatus(facades[1], cacheKey), 200);
  await admin.revokeApiKey({ name: "cache-team" });
  t.true(await eventually(async () => (await modelsStatus(facades[1], cacheKey)) === 401), "router B refuses the key revoked through router A");
  t.is((await chat(facades[1], body, cacheKey)).status, 401, "cached answers included");
});

test.serial("a key's cap on calls in flight is one across the replicas, and a slot comes back when its call ends", async (t) => {
  if (!(await requirePostgres(t)) || !(await requireRedis(t))) return;
  const { routers, facades } = await startReplicas(t);
  const { secret: key } = await adminRegistry(routers[0].url).createApiKey({ name: "one-at-a-time", maxConcurrent: 1 });
  t.true(await eventually(async () => (await modelsStatus(facades[1], "iir-not-a-key")) === 401));
  t.true(await eventually(async () => (await modelsStatus(facades[1], key)) === 200));

  const controller = new AbortController();
  const held = await chat(facades[0], { model: "openai/hang-mid-stream", stream: true }, key, controller.signal);
  t.is(held.status, 200);
  const reader = held.body!.getReader();
  await reader.read();
  const refused = await chat(facades[1], { model: "openai/gpt-4o-mini" }, key);
  t.is(refused.status, 429, "the call in flight behind facade A holds the key's only slot");
  t.like(await refused.json(), { error: { code: "concurrency_limit_exceeded" } });
  controller.abort();
  t.true(await eventually(async () => (await chat(facades[1], { model: "openai/gpt-4o-mini" }, key)).status === 200), "the slot came back when the call ended");
});

test("a slot left by a replica that died is taken again once its lease ran out; a live replica's lease is renewed", async (t) => {
  if (!(await requireRedis(t))) return;
  const prefix = `iir-test-${randomBytes(6).toString("hex")}:`;
  cleanRedisOnTeardown(t, prefix);
  const logger = createLogger({ level: "silent", name: "test" });
  const [a, b] = [0, 1].map(() => createRedisConcurrencyLimiter({ url: sharedRedisUrl, keyPrefix: prefix, logger, leaseMs: 1500 }));
  t.teardown(async () => {
    await a!.close();
    await b!.close();
  });
  await Promise.all([a!.started, b!.started]);

  const release = await a!.acquire("key", 1);
  t.truthy(release);
  t.is(await b!.acquire("key", 1), undefined, "one slot across both");
  await new Promise((resolve) => setTimeout(resolve, 4000));
  t.is(await b!.acquire("key", 1), undefined, "replica A renewed its lease past the first 1.5 s");
  release?.();
  const taken = await eventually(async () => {
    const slot = await b!.acquire("key", 1);
    slot?.();
    return slot !== undefined;
  }, 5000);
  t.true(taken, "released by A, the slot is B's to take");

  // What a replica killed mid-call leaves behind: a slot nobody renews.
  const redis = createRedisClient({ url: sharedRedisUrl });
  await redis.connect();
  t.teardown(() => redis.destroy());
  const [seconds] = await redis.time();
  await redis.zAdd(`${prefix}concurrency:{orphaned}`, { score: Number(seconds) * 1000 + 1000, value: "dead-replica-slot" });
  t.is(await b!.acquire("orphaned", 1), undefined);
  t.true(await eventually(async () => (await b!.acquire("orphaned", 1)) !== undefined, 10_000), "the dead replica's slot expired");
});
