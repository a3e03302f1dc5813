import type { Kysely } from "kysely";

/** Adds to `api_keys` the key's own cap on chat calls in flight at once; null: the router's default. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("api_keys").addColumn("max_concurrent", "integer").execute();
}

/** Drops the column. */
export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("api_keys").dropColumn("max_concurrent").execute();
}
