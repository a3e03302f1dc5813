import { sql, SqliteAdapter, type Kysely } from "kysely";

/**
 * SQLite's per-connection change counter (`PRAGMA data_version`), which moves only when another
 * connection committed; undefined on a database without it (Postgres), where callers reload every time.
 */
export async function readDataVersion<Schema>(db: Kysely<Schema>): Promise<number | undefined> {
  // Asked of Postgres the pragma would fail every tick and fill the server's log with syntax errors.
  if (!(db.getExecutor().adapter instanceof SqliteAdapter)) return undefined;
  try {
    const result = await sql<{ data_version: number }>`PRAGMA data_version`.execute(db);
    const version = result.rows[0]?.data_version;
    return typeof version === "number" ? version : undefined;
  } catch {
    return undefined;
  }
}
