import type { Kysely } from "kysely";

// Migrations take Kysely<unknown>: they describe the schema as it was at their time, not as the
// current Database interface says. Column types are ones both SQLite and Postgres understand.

/** Creates the `models` and `agents` tables. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("models")
    .addColumn("name", "text", (column) => column.primaryKey())
    .addColumn("provider", "text", (column) => column.notNull())
    .addColumn("base_url", "text", (column) => column.notNull().defaultTo(""))
    .addColumn("upstream_model", "text", (column) => column.notNull().defaultTo(""))
    .addColumn("api_key_env", "text", (column) => column.notNull().defaultTo(""))
    .addColumn("fallbacks", "text", (column) => column.notNull().defaultTo("[]"))
    .addColumn("context_length", "integer", (column) => column.notNull().defaultTo(0))
    .addColumn("input_price_per_million", "double precision", (column) => column.notNull().defaultTo(0))
    .addColumn("output_price_per_million", "double precision", (column) => column.notNull().defaultTo(0))
    .addColumn("enabled", "integer", (column) => column.notNull().defaultTo(1))
    .addColumn("created_at", "bigint", (column) => column.notNull())
    .addColumn("updated_at", "bigint", (column) => column.notNull())
    .execute();

  await db.schema
    .createTable("agents")
    .addColumn("id", "text", (column) => column.primaryKey())
    .addColumn("address", "text", (column) => column.notNull())
    .addColumn("models", "text", (column) => column.notNull().defaultTo("[]"))
    .addColumn("hardware", "text")
    .addColumn("registered_at", "bigint", (column) => column.notNull())
    .addColumn("last_seen_at", "bigint", (column) => column.notNull())
    .addColumn("load", "text")
    .execute();
}

/** Drops both tables. */
export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("agents").execute();
  await db.schema.dropTable("models").execute();
}
