import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "ava";
import { dailyLogFilePath, openDailyLogFile } from "./daily-log-file.js";
import { openServiceLogger } from "./logger.js";

function temporaryDirectory(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "iir-log-"));
}

test("the file name carries the UTC date, before the extension", (t) => {
  const time = Date.parse("2026-11-23T23:59:59.999Z");
  t.is(dailyLogFilePath("logs/iir.log", time), "logs/iir-2026-11-23.log");
  t.is(dailyLogFilePath("/var/log/iir", time), "/var/log/iir-2026-11-23.log");
  t.is(dailyLogFilePath("iir.jsonl", time + 1), "iir-2026-11-24.jsonl");
});

test("lines go to the day's file, and a new file starts at UTC midnight", async (t) => {
  const directory = temporaryDirectory();
  t.teardown(() => fs.rmSync(directory, { recursive: true, force: true }));
  let now = Date.parse("2026-11-23T23:59:58.000Z");
  const file = openDailyLogFile({ path: path.join(directory, "nested", "iir.log"), now: () => now });
  file.write("first\n");
  now = Date.parse("2026-11-23T23:59:59.999Z");
  file.write("second\n");
  now = Date.parse("2026-11-24T00:00:00.000Z");
  file.write("third\n");
  t.is(file.currentPath, path.join(directory, "nested", "iir-2026-11-24.log"));
  await file.close();
  t.is(fs.readFileSync(path.join(directory, "nested", "iir-2026-11-23.log"), "utf8"), "first\nsecond\n");
  t.is(fs.readFileSync(path.join(directory, "nested", "iir-2026-11-24.log"), "utf8"), "third\n");
});

test("an existing day's file is appended to, not replaced (a restart the same day)", async (t) => {
  const directory = temporaryDirectory();
  t.teardown(() => fs.rmSync(directory, { recursive: true, force: true }));
  const now = () => Date.parse("2026-11-23T12:00:00Z");
  for (const line of ["before restart\n", "after restart\n"]) {
    const file = openDailyLogFile({ path: path.join(directory, "iir.log"), now });
    file.write(line);
    await file.close();
  }
  t.is(fs.readFileSync(path.join(directory, "iir-2026-11-23.log"), "utf8"), "before restart\nafter restart\n");
});

test("with LOG_FILE the service logger writes the same lines to stdout and to the file", async (t) => {
  const directory = temporaryDirectory();
  t.teardown(() => fs.rmSync(directory, { recursive: true, force: true }));
  const stdout: string[] = [];
  const service = openServiceLogger({ logLevel: "info", logFile: path.join(directory, "iir.log") }, "test", {
    write: (line) => stdout.push(line),
    now: () => Date.parse("2026-11-23T08:00:00Z"),
  });
  service.logger.info("request", { requestId: "r1" });
  service.logger.debug("below the level");
  await service.close();
  t.is(stdout.length, 1);
  t.is(fs.readFileSync(path.join(directory, "iir-2026-11-23.log"), "utf8"), stdout.join(""));
  t.like(JSON.parse(stdout[0]!) as object, { msg: "request", requestId: "r1", service: "test" });
});
