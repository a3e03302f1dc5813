import { Migrator, PostgresAdapter, sql, type Kysely, type Migration, type MigrationProvider } from "kysely";
import * as createModelsAndAgents from "./20261123-163000-create-models-and-agents.js";
import * as createApiKeys from "./20261201-090000-create-api-keys.js";
import * as addModelRequestPolicy from "./20261203-120000-add-model-request-policy.js";
import * as addApiKeyMaxConcurrent from "./20261203-233000-add-api-key-max-concurrent.js";
import * as addModelDeployments from "./20261205-100000-add-model-deployments.js";
import * as addAgentModelFiles from "./20261205-140000-add-agent-model-files.js";

/**
 * Every migration, by name. Imported statically rather than read from the filesystem so that they
 * run the same under tsx, from a bundle, and from any working directory. Names sort by time:
 * add new ones at the end with a later timestamp.
 */
export const registryMigrations: Readonly<Record<string, Migration>> = Object.freeze({
  "20261123-163000-create-models-and-agents": createModelsAndAgents,
  "20261201-090000-create-api-keys": createApiKeys,
  "20261203-120000-add-model-request-policy": addModelRequestPolicy,
  "20261203-233000-add-api-key-max-concurrent": addApiKeyMaxConcurrent,
  "20261205-100000-add-model-deployments": addModelDeployments,
  "20261205-140000-add-agent-model-files": addAgentModelFiles,
});

/** A kysely MigrationProvider over the statically imported list. */
export function createStaticMigrationProvider(
  migrations: Readonly<Record<string, Migration>> = registryMigrations,
): MigrationProvider {
  return { getMigrations: async () => ({ ...migrations }) };
}

/**
 * Brings the registry schema up to date. Returns the names of the migrations that ran (empty when
 * already current); throws an Error naming the migration that failed, with the cause attached.
 * Kysely's lock table keeps two processes from migrating at once. On Postgres the bookkeeping tables
 * live in the connection's current schema (the first of its search_path).
 */
export async function migrateToLatest<Schema>(db: Kysely<Schema>): Promise<readonly string[]> {
  const migrationTableSchema = await currentPostgresSchema(db);
  const migrator = new Migrator({ db, provider: createStaticMigrationProvider(), migrationTableSchema });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results.find((result) => result.status === "Error")?.migrationName;
    const reason = error instanceof Error ? error.message : String(error);
    const where = failed === undefined ? "registry migrations failed" : `registry migration "${failed}" failed`;
    throw new Error(`${where}: ${reason}`, { cause: error });
  }
  return results.filter((result) => result.status === "Success").map((result) => result.migrationName);
}

/**
 * The schema unqualified names resolve to on Postgres; undefined elsewhere. Kysely looks for its
 * migration tables among the tables of every schema unless told which one, so a second registry in
 * another schema of the same database would otherwise pass for this one's.
 */
async function currentPostgresSchema<Schema>(db: Kysely<Schema>): Promise<string | undefined> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return undefined;
  const result = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  return result.rows[0]?.schema ?? undefined;
}
