import { randomBytes } from "node:crypto";
import type { ExecutionContext } from "ava";
import pg from "pg";

/** The machine's Postgres, which CI provides too; TEST_DATABASE_URL points elsewhere. */
export const sharedPostgresUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** Whether Postgres answers a query within a few seconds. */
export async function postgresAnswers(url = sharedPostgresUrl): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Skips a test that needs Postgres when none runs here — loudly — and fails it instead when
 * CI_REQUIRE_SERVICES=1, so CI always exercises it. Returns whether the test may go on.
 */
export async function requirePostgres(t: ExecutionContext): Promise<boolean> {
  if (await postgresAnswers()) return true;
  const message = `Postgres is not reachable at ${sharedPostgresUrl}`;
  if (process.env.CI_REQUIRE_SERVICES === "1") {
    t.fail(`${message} (CI_REQUIRE_SERVICES=1)`);
    return false;
  }
  console.error(`\n!!! SKIPPING "${t.title}": ${message}. Start Postgres to run it.\n`);
  t.pass();
  return false;
}

/**
 * A schema of its own for one test (`iir_test_<random>`), dropped with everything in it when the test
 * ends, so parallel tests and reruns never meet. Returns a DATABASE_URL whose connections use it
 * (search_path through the `options` startup parameter).
 */
export async function freshPostgresSchema(t: ExecutionContext): Promise<{ schema: string; url: string }> {
  const schema = `iir_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: sharedPostgresUrl });
  await admin.connect();
  try {
    await admin.query(`create schema ${schema}`);
  } finally {
    await admin.end();
  }
  t.teardown(async () => {
    const dropper = new pg.Client({ connectionString: sharedPostgresUrl });
    await dropper.connect();
    try {
      await dropper.query(`drop schema if exists ${schema} cascade`);
    } finally {
      await dropper.end();
    }
  });
  const url = new URL(sharedPostgresUrl);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return { schema, url: url.toString() };
}

/** The tables in `schema`. */
export async function tablesIn(schema: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: sharedPostgresUrl });
  await client.connect();
  try {
    const result = await client.query<{ table_name: string }>("select table_name from information_schema.tables where table_schema = $1 order by table_name", [schema]);
    return result.rows.map((row) => row.table_name);
  } finally {
    await client.end();
  }
}
