import fs from "node:fs";
import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import type { Database } from "./schema.js";

/** How long a writer waits for another process's lock (the CLI and a router share one file). */
const busyTimeoutMs = 5000;

/**
 * Opens (creating when absent) the SQLite registry at `filePath`, in WAL mode so that a running
 * router keeps reading while the CLI writes. `:memory:` opens a private in-memory database.
 * Throws an Error naming the path and the reason when the file cannot be used.
 */
export function openDatabase(filePath: string): Kysely<Database> {
  const sqlite = openSqlite(filePath);
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
}

function openSqlite(filePath: string): SqliteDatabase.Database {
  const inMemory = filePath === ":memory:" || filePath === "";
  let sqlite: SqliteDatabase.Database | undefined;
  try {
    if (!inMemory) {
      rejectDirectory(filePath);
      fs.mkdirSync(path.dirname(filePath), { recursive: true });
    }
    sqlite = new SqliteDatabase(filePath);
    // The first statement reads the header, so a file that is not a database fails here, not later.
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma(`busy_timeout = ${busyTimeoutMs}`);
    sqlite.pragma("foreign_keys = ON");
    return sqlite;
  } catch (error) {
    sqlite?.close();
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot open SQLite database "${filePath}": ${reason}`, { cause: error });
  }
}

function rejectDirectory(filePath: string): void {
  let stats: fs.Stats;
  try {
    stats = fs.statSync(filePath);
  } catch {
    return; // Absent: SQLite creates it.
  }
  if (stats.isDirectory()) throw new Error("the path is a directory, not a file");
}
