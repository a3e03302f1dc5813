import fs from "node:fs/promises";
import path from "node:path";
import test from "ava";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { Migrator, sql } from "kysely";
import { AgentLoadSchema } from "../gen/iir/heartbeat/v1/heartbeat_pb.js";
import { HardwareSchema, ModelSchema } from "../gen/iir/registry/v1/registry_pb.js";
import { deregisterAgent, listAgents, recordBeat, registerAgent } from "../services/router/registry/agents.repository.js";
import { openDatabase } from "../services/router/registry/database.js";
import { createStaticMigrationProvider, migrateToLatest, registryMigrations } from "../services/router/registry/migrations/index.js";
import { createApiKey, getApiKey } from "../services/router/registry/api-keys.repository.js";
import { deleteModel, getModel, listModels, upsertModel } from "../services/router/registry/models.repository.js";
import { createMigratedRegistry, createTempDirectory } from "./registry-fixtures.js";

test("migrations create the tables on a fresh file and do nothing on a second run", async (t) => {
  const file = path.join(await createTempDirectory(t), "deep", "er", "iir.db");
  const db = openDatabase(file);
  t.teardown(() => db.destroy());
  t.deepEqual(await migrateToLatest(db), Object.keys(registryMigrations));
  t.deepEqual(await migrateToLatest(db), []);
  const tables = await db.introspection.getTables();
  t.deepEqual(tables.map((table) => table.name).sort(), ["agents", "api_keys", "models"]);
  const journal = await sql<{ journal_mode: string }>`PRAGMA journal_mode`.execute(db);
  t.is(journal.rows[0]?.journal_mode, "wal");
});

test("the max_concurrent migration keeps the keys made before it, without a cap of their own, and can be undone", async (t) => {
  const db = openDatabase(path.join(await createTempDirectory(t), "iir.db"));
  t.teardown(() => db.destroy());
  const migrator = new Migrator({ db, provider: createStaticMigrationProvider() });
  t.is((await migrator.migrateTo("20261203-120000-add-model-request-policy")).error, undefined);
  await sql`INSERT INTO api_keys (id, name, key_hash, last_four, rpm, tpm, created_at, revoked_at) VALUES ('id-old', 'old', 'aa', 'abcd', 60, NULL, 1, NULL)`.execute(db);
  t.is((await migrateToLatest(db))[0], "20261203-233000-add-api-key-max-concurrent");
  t.like(await getApiKey(db, "old"), { rpm: 60, tpm: undefined, maxConcurrent: undefined });
  await createApiKey(db, { name: "new", maxConcurrent: 3 });
  t.is((await getApiKey(db, "new"))?.maxConcurrent, 3);
  // Back to before it, undoing the later migrations too.
  t.is((await migrator.migrateTo("20261203-120000-add-model-request-policy")).error, undefined);
  const columns = (await db.introspection.getTables()).find((table) => table.name === "api_keys")?.columns.map((column) => column.name);
  t.false(columns?.includes("max_concurrent"));
  t.truthy(columns?.includes("rpm"), "the rest of the table stays");
});

test("a second process opening the same file sees the schema as up to date", async (t) => {
  const { file } = await createMigratedRegistry(t);
  const other = openDatabase(file);
  t.teardown(() => other.destroy());
  t.deepEqual(await migrateToLatest(other), []);
});

test("opening a directory or a file that is not a database names the path and the reason", async (t) => {
  const directory = await createTempDirectory(t);
  const directoryError = t.throws(() => openDatabase(directory));
  t.true(directoryError.message.includes(directory));
  t.regex(directoryError.message, /directory/);

  const garbage = path.join(directory, "garbage.db");
  await fs.writeFile(garbage, "this is plain text and certainly not a SQLite database header ".repeat(20));
  const garbageError = t.throws(() => openDatabase(garbage));
  t.true(garbageError.message.includes(garbage));
  t.regex(garbageError.message, /not a database/);
});

test("models: upsert, get, list, update keeps created_at, delete reports existence", async (t) => {
  const { db } = await createMigratedRegistry(t);
  const model = create(ModelSchema, {
    name: "gpt-4o",
    provider: "openai",
    baseUrl: "https://api.openai.com/v1",
    apiKeyEnv: "EXTERNAL_OPENAI_KEY",
    fallbacks: ["groq/llama", "local/tiny"],
    contextLength: 128000,
    inputPricePerMillion: 2.5,
    outputPricePerMillion: 10,
    enabled: true,
  });
  const stored = await upsertModel(db, model, 1_000);
  t.deepEqual({ ...stored, createdAt: 0n, updatedAt: 0n }, { ...model, createdAt: 0n, updatedAt: 0n });
  t.is(stored.createdAt, 1_000n);
  t.deepEqual(await getModel(db, "gpt-4o"), stored);

  const updated = await upsertModel(db, create(ModelSchema, { ...model, enabled: false, fallbacks: [] }), 2_000);
  t.is(updated.createdAt, 1_000n);
  t.is(updated.updatedAt, 2_000n);
  t.false(updated.enabled);
  t.deepEqual(updated.fallbacks, []);

  await upsertModel(db, create(ModelSchema, { name: "a-first", provider: "local" }), 3_000);
  t.deepEqual((await listModels(db)).map((entry) => entry.name), ["a-first", "gpt-4o"]);
  t.true(await deleteModel(db, "gpt-4o"));
  t.false(await deleteModel(db, "gpt-4o"));
  t.is(await getModel(db, "gpt-4o"), undefined);
});

test("upsert refuses invalid models with InvalidArgument naming each field", async (t) => {
  const { db } = await createMigratedRegistry(t);
  const error = await t.throwsAsync(
    upsertModel(db, create(ModelSchema, { name: "", provider: "", baseUrl: "ftp://x", contextLength: -1, inputPricePerMillion: -2, outputPricePerMillion: Number.NaN })),
    { instanceOf: ConnectError },
  );
  t.is(error.code, Code.InvalidArgument);
  for (const field of ["name", "provider", "base_url", "context_length", "input_price_per_million", "output_price_per_million"]) {
    t.true(error.rawMessage.includes(field), `message names ${field}: ${error.rawMessage}`);
  }
  t.deepEqual(await listModels(db), []);
});

test("agents: register, re-register, beat, deregister", async (t) => {
  const { db } = await createMigratedRegistry(t);
  const hardware = create(HardwareSchema, { cpuCores: 8, memoryBytes: 17_179_869_184n, platform: "linux-x64" });
  await registerAgent(db, { id: "agent-1", address: "http://10.0.0.5:50061", models: ["tiny"], hardware }, 100);
  t.false(await recordBeat(db, "ghost", undefined, 150));
  t.true(await recordBeat(db, "agent-1", create(AgentLoadSchema, { queueLength: 3, tokensPerSecond: 41.5 }), 200));

  const [agent] = await listAgents(db);
  t.is(agent?.address, "http://10.0.0.5:50061");
  t.deepEqual(agent?.models, ["tiny"]);
  t.is(agent?.hardware?.memoryBytes, 17_179_869_184n);
  t.is(agent?.registeredAt, 100n);
  t.is(agent?.lastSeenAt, 200n);
  t.is(agent?.load?.queueLength, 3);
  t.is(agent?.load?.tokensPerSecond, 41.5);

  await registerAgent(db, { id: "agent-1", address: "http://10.0.0.6:50061", models: ["tiny", "other"] }, 300);
  const [again] = await listAgents(db);
  t.is(again?.address, "http://10.0.0.6:50061");
  t.is(again?.hardware, undefined);
  t.is(again?.load, undefined, "a new incarnation starts without the old load");
  t.true(await deregisterAgent(db, "agent-1"));
  t.false(await deregisterAgent(db, "agent-1"));
  t.false(await recordBeat(db, "agent-1", undefined, 400));
});
