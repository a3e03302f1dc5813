import fs from "node:fs";
import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import { redactUrl } from "../../common/redact-url.js";
import type { Database } from "./schema.js";

/** Where the registry lives: Postgres when `databaseUrl` is set, else the SQLite file. */
export interface RegistryLocation {
  /** postgres:// or postgresql:// URL (DATABASE_URL); undefined: SQLite. */
  readonly databaseUrl?: string | undefined;
  /** SQLite file (SQLITE_DB_PATH), used when there is no `databaseUrl`. */
  readonly sqliteDbPath: string;
}

/** Connections one process keeps to Postgres: the router's periodic reloads and admin writes are few. */
const postgresPoolSize = 5;

/**
 * Opens the registry where `location` says: Postgres (a pg Pool, connected lazily: the first query,
 * usually the migrations, reports an unreachable server) or SQLite via {@link openDatabase}.
 */
export function openRegistry(location: RegistryLocation): Kysely<Database> {
  if (location.databaseUrl !== undefined) return openPostgres(location.databaseUrl);
  return openDatabase(location.sqliteDbPath);
}

/** The registry's location fit for logs: the SQLite path, or the Postgres URL without its password. */
export function describeRegistry(location: RegistryLocation): string {
  return location.databaseUrl === undefined ? location.sqliteDbPath : redactUrl(location.databaseUrl, "postgres");
}

/**
 * A Postgres registry. `int8` (our `bigint` millisecond timestamps) is parsed to a number rather than
 * pg's default string: millisecond times and counts stay far below 2^53.
 */
export function openPostgres(url: string): Kysely<Database> {
  const types = new pg.TypeOverrides();
  types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));
  const pool = new pg.Pool({ connectionString: url, max: postgresPoolSize, types, connectionTimeoutMillis: 10_000 });
  // An idle connection the server dropped emits 'error' on the pool; unhandled it would end the process.
  // The next query opens a fresh connection, or fails and says why.
  pool.on("error", () => undefined);
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

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
