import type { Kysely } from "kysely";

/**
 * Adds to `models` the request fields an entry lets through to its provider (JSON array) and
 * whether it caches answers to sampling requests.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("models")
    .addColumn("allowed_request_fields", "text", (column) => column.notNull().defaultTo("[]"))
    .execute();
  await db.schema
    .alterTable("models")
    .addColumn("cache_sampled", "integer", (column) => column.notNull().defaultTo(0))
    .execute();
}

/** Drops the two columns. */
export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("models").dropColumn("cache_sampled").execute();
  await db.schema.alterTable("models").dropColumn("allowed_request_fields").execute();
}
