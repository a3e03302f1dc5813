import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { ExecutionContext } from "ava";
import type { Kysely } from "kysely";
import { openDatabase } from "../services/router/registry/database.js";
import { migrateToLatest } from "../services/router/registry/migrations/index.js";
import type { Database } from "../services/router/registry/schema.js";

/** A fresh directory under the OS temp dir, removed when the test ends. */
export async function createTempDirectory(t: ExecutionContext): Promise<string> {
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), "iir-registry-"));
  t.teardown(() => fs.rm(directory, { recursive: true, force: true }));
  return directory;
}

/** A migrated registry in a real SQLite file of its own, closed when the test ends. */
export async function createMigratedRegistry(t: ExecutionContext): Promise<{ db: Kysely<Database>; file: string }> {
  const file = path.join(await createTempDirectory(t), "nested", "iir.db");
  const db = openDatabase(file);
  t.teardown(() => db.destroy());
  await migrateToLatest(db);
  return { db, file };
}
