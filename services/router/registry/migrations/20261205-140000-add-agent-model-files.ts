import type { Kysely } from "kysely";

/**
 * Adds to `agents` the GGUF files each agent can load (its models directory) and when the router
 * last heard of them, so every router replica recommends models from the same catalog.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("agents").addColumn("model_files", "text").execute();
  await db.schema.alterTable("agents").addColumn("model_files_updated_at", "bigint", (column) => column.notNull().defaultTo(0)).execute();
}

/** Drops the columns. */
export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("agents").dropColumn("model_files_updated_at").execute();
  await db.schema.alterTable("agents").dropColumn("model_files").execute();
}
