import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import test, { type ExecutionContext } from "ava";
import { runKeysCommand } from "../cli/commands/keys.js";
import { UsageError } from "../cli/commands/models.js";
import { openDatabase } from "../services/router/registry/database.js";
import { getApiKey, listActiveApiKeys } from "../services/router/registry/api-keys.repository.js";
import { migrateToLatest } from "../services/router/registry/migrations/index.js";
import { spawnIir } from "./support/iir-process.js";
import { createTempDirectory } from "./registry-fixtures.js";

const keyPattern = /^iir-[0-9A-Za-z]{40}$/;

function createOutput() {
  const lines: string[] = [];
  return { lines, log: (line: string) => void lines.push(line), text: () => lines.join("\n") };
}

async function setUp(t: ExecutionContext) {
  const file = path.join(await createTempDirectory(t), "iir.db");
  const db = openDatabase(file);
  t.teardown(() => db.destroy());
  await migrateToLatest(db);
  const output = createOutput();
  const run = (...args: string[]) => runKeysCommand(args, db, output);
  return { db, file, output, run };
}

/** Everything SQLite holds for the registry: the file and, while it exists, its write-ahead log. */
async function registryBytes(file: string): Promise<string> {
  const parts = await Promise.all([file, `${file}-wal`].map((part) => fs.readFile(part).catch(() => Buffer.alloc(0))));
  return Buffer.concat(parts).toString("latin1");
}

test("create prints the key once; the registry holds only its SHA-256 digest and last 4 characters", async (t) => {
  const { db, file, output, run } = await setUp(t);
  await run("create", "--name", "ci-bot", "--rpm", "60", "--tpm", "90000", "--max-concurrent", "4");
  const keys = output.lines.filter((line) => keyPattern.test(line));
  t.is(keys.length, 1, "exactly one line is the key");
  const key = keys[0] as string;
  t.is(output.lines.filter((line) => line.includes(key)).length, 1, "the key appears once in the output");
  t.regex(output.text(), /created API key "ci-bot" \(60 rpm, 90000 tpm, 4 concurrent\)/);
  t.regex(output.text(), /shown only this once/);

  const stored = await getApiKey(db, "ci-bot");
  t.is(stored?.keyHash, createHash("sha256").update(key).digest("hex"));
  t.is(stored?.lastFour, key.slice(-4));
  t.is(stored?.rpm, 60);
  t.is(stored?.tpm, 90000);
  t.is(stored?.maxConcurrent, 4);
  const bytes = await registryBytes(file);
  t.false(bytes.includes(key), "the key's text is nowhere in the database file");
  t.false(bytes.includes(key.slice(4, 20)), "not even a part of it");

  output.lines.length = 0;
  await run("list");
  t.regex(output.lines[0] ?? "", /^NAME\s+CREATED\s+RPM\s+TPM\s+CONCURRENT\s+REVOKED\s+KEY$/);
  t.regex(output.lines[1] ?? "", new RegExp(`^ci-bot\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ\\s+60\\s+90000\\s+4\\s+-\\s+iir-…${key.slice(-4)}$`));
  t.false(output.text().includes(key));
});

test("two keys never share a value, and a key without limits uses the router's defaults", async (t) => {
  const { db, output, run } = await setUp(t);
  await run("create", "--name", "one");
  await run("create", "--name", "two");
  const keys = output.lines.filter((line) => keyPattern.test(line));
  t.is(new Set(keys).size, 2);
  t.regex(output.text(), /created API key "one" \(rpm: router default, tpm: router default, concurrent: router default\)/);
  output.lines.length = 0;
  await run("list", "--json");
  const listed = JSON.parse(output.text()) as { keys: Array<Record<string, unknown>> };
  t.deepEqual(listed.keys.map((key) => [key.name, key.rpm, key.tpm, key.max_concurrent, key.revoked_at]), [["one", null, null, null, null], ["two", null, null, null, null]]);
  t.deepEqual((await listActiveApiKeys(db)).map((key) => key.name).sort(), ["one", "two"]);
});

test("revoke marks a key revoked; list shows when; the name stays taken", async (t) => {
  const { db, output, run } = await setUp(t);
  await run("create", "--name", "leaked");
  await run("revoke", "leaked");
  t.regex(output.text(), /revoked API key "leaked"/);
  t.deepEqual(await listActiveApiKeys(db), []);
  output.lines.length = 0;
  await run("list");
  t.regex(output.lines[1] ?? "", /^leaked\s+\S+ \S+\s+default\s+default\s+default\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+iir-…/);
  output.lines.length = 0;
  await run("revoke", "leaked");
  t.deepEqual(output.lines, ['API key "leaked" was already revoked']);
  await t.throwsAsync(run("revoke", "never-made"), { message: 'API key "never-made" not found' });
  await t.throwsAsync(run("create", "--name", "leaked"), { message: 'an API key named "leaked" already exists' });
});

test("bad command lines are UsageErrors and change nothing", async (t) => {
  const { db, run } = await setUp(t);
  const cases: Array<[string[], RegExp]> = [
    [["create"], /needs --name NAME/],
    [["create", "bare-name"], /--name NAME, got 'bare-name'/],
    [["create", "--name", "x", "--rpm", "0"], /--rpm must be an integer >= 1, got "0"/],
    [["create", "--name", "x", "--tpm", "lots"], /--tpm must be an integer >= 1/],
    [["create", "--name", "x", "--max-concurrent", "0"], /--max-concurrent must be an integer >= 1, got "0"/],
    [["create", "--name", "x", "--colour", "red"], /Unknown option '--colour'/],
    [["revoke"], /exactly one key NAME/],
    [["list", "extra"], /takes no arguments/],
    [["frobnicate"], /unknown keys command 'frobnicate'/],
    [[], /missing keys command/],
  ];
  for (const [args, message] of cases) {
    const error = await t.throwsAsync(run(...args), { instanceOf: UsageError }, args.join(" "));
    t.regex(error?.message ?? "", message);
  }
  await t.throwsAsync(run("create", "--name", "has space"), { message: /name must be/ });
  t.deepEqual(await listActiveApiKeys(db), []);
});

test("iir keys as a command: create prints the key on its own line, list and revoke work on the same file", async (t) => {
  const directory = await createTempDirectory(t);
  const env = { SQLITE_DB_PATH: path.join(directory, "iir.db") };
  const created = await spawnIir(["keys", "create", "--name", "ops", "--rpm", "10", "--max-concurrent", "5"], env).exited;
  t.is(created.code, 0, created.stderr);
  const key = created.stdout.split("\n").find((line) => keyPattern.test(line));
  t.truthy(key);
  const listed = await spawnIir(["keys", "list"], env).exited;
  t.regex(listed.stdout, new RegExp(`ops .* 10\\s+default\\s+5\\s+-\\s+iir-…${key!.slice(-4)}`));
  t.false(listed.stdout.includes(key!));
  t.is((await spawnIir(["keys", "revoke", "ops"], env).exited).code, 0);
  const unknown = await spawnIir(["keys", "revoke", "ops-2"], env).exited;
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /API key "ops-2" not found/);
  const usage = await spawnIir(["keys", "create"], env).exited;
  t.is(usage.code, 2, "a bad command line exits 2");
  t.regex(usage.stderr, /usage:\n {2}iir keys create/);
  t.false((await registryBytes(env.SQLITE_DB_PATH)).includes(key!));
});
