import fs from "node:fs";
import path from "node:path";
import test from "ava";
import { spawnIir } from "./support/iir-process.js";
import { stopOnTeardown, temporaryDirectory } from "./support/process-fixtures.js";

// LOG_FILE as a user meets it: `iir router` started with it, stopped with SIGTERM.

test("iir with LOG_FILE writes its stdout lines to the day's file, the last one before exit included", async (t) => {
  const directory = temporaryDirectory(t);
  const router = stopOnTeardown(
    t,
    spawnIir(["router"], {
      SQLITE_DB_PATH: path.join(directory, "iir.db"),
      IIR_ROUTER_PORT: "0",
      LOG_FILE: path.join(directory, "logs", "iir.log"),
      LOG_FILE_KEEP: "3",
    }),
  );
  await router.waitForLog("router started");
  router.kill("SIGTERM");
  const exit = await router.exited;
  t.is(exit.code, 0, exit.stderr);
  const files = fs.readdirSync(path.join(directory, "logs"));
  t.is(files.length, 1);
  t.regex(files[0]!, /^iir\.\d{4}-\d{2}-\d{2}\.1\.log$/);
  const kept = fs.readFileSync(path.join(directory, "logs", files[0]!), "utf8");
  const messages = kept.trimEnd().split("\n").map((line) => (JSON.parse(line) as { msg: string }).msg);
  t.true(messages.includes("router started"));
  t.is(messages.at(-1), "stopped", "the line logged just before the process exits is in the file");
  t.is(kept, exit.stdout.split("\n").filter((line) => line.startsWith("{")).map((line) => `${line}\n`).join(""), "the same lines as stdout");
});
