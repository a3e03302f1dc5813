import test, { type ExecutionContext } from "ava";
import { create } from "@bufbuild/protobuf";
import type { Kysely } from "kysely";
import { AgentLoadSchema } from "../gen/iir/heartbeat/v1/heartbeat_pb.js";
import { HardwareSchema, ModelSchema } from "../gen/iir/registry/v1/registry_pb.js";
import { createAgentDirectory } from "../services/router/agents/agent-directory.js";
import { createAgentSync } from "../services/router/agents/agent-sync.js";
import { createApiKeyStore } from "../services/router/auth/api-key-store.js";
import { deregisterAgent, listAgents, recordBeat, registerAgent } from "../services/router/registry/agents.repository.js";
import { digestApiKey } from "../services/router/registry/api-key-secret.js";
import { ApiKeyError, createApiKey, getApiKey, listApiKeys, revokeApiKey } from "../services/router/registry/api-keys.repository.js";
import { openPostgres, openRegistry } from "../services/router/registry/database.js";
import { migrateToLatest, registryMigrations } from "../services/router/registry/migrations/index.js";
import { deleteModel, getModel, listModels, upsertModel } from "../services/router/registry/models.repository.js";
import type { Database } from "../services/router/registry/schema.js";
import { spawnIir } from "./support/iir-process.js";
import { freePort } from "./support/process-fixtures.js";
import { freshPostgresSchema, requirePostgres, tablesIn } from "./support/postgres-fixtures.js";

// The registry on Postgres (DATABASE_URL), as router replicas share it: each test in a schema of its own.

async function migratedPostgres(t: ExecutionContext): Promise<{ db: Kysely<Database>; url: string; schema: string }> {
  const { url, schema } = await freshPostgresSchema(t);
  const db = openRegistry({ databaseUrl: url, sqliteDbPath: "unused.db" });
  t.teardown(() => db.destroy());
  await migrateToLatest(db);
  return { db, url, schema };
}

async function eventually(check: () => Promise<boolean> | boolean, withinMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return check();
}

test("migrations create the tables in the schema and do nothing on a second run", async (t) => {
  if (!(await requirePostgres(t))) return;
  const { url, schema } = await freshPostgresSchema(t);
  const db = openPostgres(url);
  t.teardown(() => db.destroy());
  t.deepEqual(await migrateToLatest(db), Object.keys(registryMigrations));
  t.deepEqual(await migrateToLatest(db), []);
  t.deepEqual(await tablesIn(schema), ["agents", "api_keys", "kysely_migration", "kysely_migration_lock", "models"]);
});

test("models: upsert, get, list, update keeps created_at, booleans and bigint timestamps read back as written, delete", async (t) => {
  if (!(await requirePostgres(t))) return;
  const { db } = await migratedPostgres(t);
  const now = 1_796_000_000_123;
  const model = create(ModelSchema, {
    name: "gpt-x",
    provider: "openai-compatible",
    baseUrl: "https://api.example.com/v1",
    upstreamModel: "gpt-4o",
    apiKeyEnv: "EXTERNAL_X_KEY",
    fallbacks: ["local/iir-tiny"],
    contextLength: 128_000,
    inputPricePerMillion: 2.5,
    outputPricePerMillion: 10,
    enabled: true,
    allowedRequestFields: ["service_tier"],
    cacheSampled: true,
  });
  const stored = await upsertModel(db, model, now);
  t.like(stored, { name: "gpt-x", contextLength: 128_000, inputPricePerMillion: 2.5, enabled: true, cacheSampled: true, createdAt: BigInt(now), updatedAt: BigInt(now) });
  t.deepEqual(stored.fallbacks, ["local/iir-tiny"]);
  t.deepEqual(stored.allowedRequestFields, ["service_tier"]);

  const updated = await upsertModel(db, create(ModelSchema, { ...model, enabled: false, cacheSampled: false, contextLength: 8192 }), now + 5);
  t.like(updated, { enabled: false, cacheSampled: false, contextLength: 8192, createdAt: BigInt(now), updatedAt: BigInt(now + 5) });
  await upsertModel(db, create(ModelSchema, { name: "another", provider: "openai-compatible" }), now);
  t.deepEqual((await listModels(db)).map((entry) => entry.name), ["another", "gpt-x"]);
  t.is((await getModel(db, "gpt-x"))?.enabled, false);
  t.true(await deleteModel(db, "gpt-x"));
  t.false(await deleteModel(db, "gpt-x"));
  t.is(await getModel(db, "gpt-x"), undefined);
});

test("agents: register, re-register, beat, deregister", async (t) => {
  if (!(await requirePostgres(t))) return;
  const { db } = await migratedPostgres(t);
  const hardware = create(HardwareSchema, { cpuCores: 8, memoryBytes: 17_179_869_184n, platform: "linux-x64" });
  await registerAgent(db, { id: "agent-1", address: "http://10.0.0.5:50061", models: ["tiny"], hardware }, 1_796_000_000_100);
  t.false(await recordBeat(db, "ghost", undefined, 1_796_000_000_150));
  t.true(await recordBeat(db, "agent-1", create(AgentLoadSchema, { queueLength: 3, tokensPerSecond: 41.5 }), 1_796_000_000_200));
  const [agent] = await listAgents(db);
  t.like(agent, { address: "http://10.0.0.5:50061", registeredAt: 1_796_000_000_100n, lastSeenAt: 1_796_000_000_200n });
  t.is(agent?.hardware?.memoryBytes, 17_179_869_184n);
  t.is(agent?.load?.queueLength, 3);
  await registerAgent(db, { id: "agent-1", address: "http://10.0.0.6:50061", models: ["tiny", "other"] }, 1_796_000_000_300);
  const [again] = await listAgents(db);
  t.deepEqual(again?.models, ["tiny", "other"]);
  t.is(again?.load, undefined);
  t.true(await deregisterAgent(db, "agent-1"));
  t.false(await deregisterAgent(db, "agent-1"));
  t.false(await recordBeat(db, "agent-1", undefined, 1_796_000_000_400));
});

test("API keys: create with limits, a taken name refused (also when racing), verify by digest, revoke seen by another connection's store", async (t) => {
  if (!(await requirePostgres(t))) return;
  const { db, url } = await migratedPostgres(t);
  const { key, record } = await createApiKey(db, { name: "team", rpm: 60, tpm: 1000, maxConcurrent: 4 }, 1_796_000_000_000);
  t.like(await getApiKey(db, "team"), { id: record.id, rpm: 60, tpm: 1000, maxConcurrent: 4, createdAt: 1_796_000_000_000, revokedAt: undefined });
  await t.throwsAsync(createApiKey(db, { name: "team" }), { instanceOf: ApiKeyError, message: /already exists/ });
  const racing = await Promise.allSettled([createApiKey(db, { name: "race" }), createApiKey(db, { name: "race" })]);
  t.is(racing.filter((outcome) => outcome.status === "fulfilled").length, 1);
  const refused = racing.find((outcome) => outcome.status === "rejected");
  t.true(refused?.status === "rejected" && refused.reason instanceof ApiKeyError, "the unique index's refusal is an ApiKeyError");

  // A second router replica: its own pool, its own in-memory key store.
  const other = openPostgres(url);
  t.teardown(() => other.destroy());
  const store = await createApiKeyStore({ db: other, refreshMs: 50 });
  t.teardown(() => store.close());
  t.like(store.find(digestApiKey(key)), { name: "team", rpm: 60, tpm: 1000, maxConcurrent: 4 });
  t.is(store.find(digestApiKey(`${key}x`)), undefined);
  t.is(await revokeApiKey(db, "team", 1_796_000_000_500), "revoked");
  t.is(await revokeApiKey(db, "team"), "already-revoked");
  t.is(await revokeApiKey(db, "nobody"), "not-found");
  t.true(await eventually(() => store.find(digestApiKey(key)) === undefined), "the other replica's store dropped the revoked key");
  t.true(store.anyKeys());
  t.is((await listApiKeys(db)).find((entry) => entry.name === "team")?.revokedAt, 1_796_000_000_500);
});

test("an agent registered through one replica's connection joins another replica's directory, and leaves it when deregistered", async (t) => {
  if (!(await requirePostgres(t))) return;
  const { db, url } = await migratedPostgres(t);
  const other = openPostgres(url);
  t.teardown(() => other.destroy());
  const directory = createAgentDirectory({ staleAfterMs: 60_000 });
  const sync = createAgentSync({ db: other, agents: directory, refreshMs: 50 });
  t.teardown(() => sync.close());
  await registerAgent(db, { id: "remote", address: "http://127.0.0.1:1", models: ["tiny"] }, Date.now());
  t.true(await eventually(() => directory.liveFor("tiny").length === 1));
  t.is(directory.liveFor("tiny")[0]?.address, "http://127.0.0.1:1");
  await recordBeat(db, "remote", create(AgentLoadSchema, { queueLength: 7 }), Date.now());
  t.true(await eventually(() => directory.liveFor("tiny")[0]?.load?.queueLength === 7), "beats taken elsewhere carry the load");
  await deregisterAgent(db, "remote");
  t.true(await eventually(() => directory.liveFor("tiny").length === 0));
});

test.serial("iir migrate, keys and models run against DATABASE_URL; a bad DATABASE_URL is refused without echoing its password", async (t) => {
  if (!(await requirePostgres(t))) return;
  const { url, schema } = await freshPostgresSchema(t);
  const env = { DATABASE_URL: url, SQLITE_DB_PATH: "/nonexistent/never-used.db" };
  const migrated = await spawnIir(["migrate"], env).exited;
  t.is(migrated.code, 0, migrated.stderr);
  for (const name of Object.keys(registryMigrations)) t.true(migrated.stdout.includes(`applied migration ${name}`));
  t.true((await tablesIn(schema)).includes("api_keys"));
  const again = await spawnIir(["migrate"], env).exited;
  t.regex(again.stdout, /registry already up to date/);

  const created = await spawnIir(["keys", "create", "--name", "ops", "--max-concurrent", "2"], env).exited;
  t.is(created.code, 0, created.stderr);
  const listed = await spawnIir(["keys", "list"], env).exited;
  t.regex(listed.stdout, /ops .*\b2\b/);
  const added = await spawnIir(["models", "add", "remote-x", "--provider", "openai-compatible", "--base-url", "https://api.example.com/v1"], env).exited;
  t.is(added.code, 0, added.stderr);
  t.regex((await spawnIir(["models", "list"], env).exited).stdout, /remote-x/);

  const wrongScheme = await spawnIir(["migrate"], { DATABASE_URL: "mysql://admin:hunter2@127.0.0.1/iir" }).exited;
  t.not(wrongScheme.code, 0);
  t.regex(wrongScheme.stderr, /DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL/);
  t.false(`${wrongScheme.stdout}${wrongScheme.stderr}`.includes("hunter2"));
  const unreachable = await spawnIir(["migrate"], { DATABASE_URL: `postgres://admin:hunter2@127.0.0.1:${await freePort()}/iir` }).exited;
  t.not(unreachable.code, 0);
  t.regex(unreachable.stderr, /ECONNREFUSED|connect/);
  t.false(`${unreachable.stdout}${unreachable.stderr}`.includes("hunter2"));
});
