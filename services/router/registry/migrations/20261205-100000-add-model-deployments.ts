import type { Kysely } from "kysely";

/**
 * Adds to `models` where and how an entry is served beyond its one provider: its deployments (JSON
 * array of proto JSON `Deployment`s), the strategy choosing among them, the time-to-first-token
 * timeout, what the model can do (JSON array), and an `auto` router's settings (proto JSON
 * `AutoRouting`, null when the entry is no router).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // One column per statement: SQLite's ALTER TABLE adds one at a time.
  await db.schema.alterTable("models").addColumn("deployments", "text", (column) => column.notNull().defaultTo("[]")).execute();
  await db.schema.alterTable("models").addColumn("strategy", "text", (column) => column.notNull().defaultTo("")).execute();
  await db.schema.alterTable("models").addColumn("ttft_timeout_ms", "integer", (column) => column.notNull().defaultTo(0)).execute();
  await db.schema.alterTable("models").addColumn("capabilities", "text", (column) => column.notNull().defaultTo("[]")).execute();
  await db.schema.alterTable("models").addColumn("auto", "text").execute();
}

/** Drops the five columns. */
export async function down(db: Kysely<unknown>): Promise<void> {
  for (const column of ["auto", "capabilities", "ttft_timeout_ms", "strategy", "deployments"]) {
    await db.schema.alterTable("models").dropColumn(column).execute();
  }
}
