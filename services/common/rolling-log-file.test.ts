import fs from "node:fs";
import path from "node:path";
import test from "ava";
import { temporaryDirectory } from "../../test/support/process-fixtures.js";
import { openServiceLogger } from "./logger.js";
import { openRollingLogFile } from "./rolling-log-file.js";

/** The local date pino-roll puts in file names, as yyyy-MM-dd. */
function localDay(date = new Date()): string {
  const pad = (value: number) => String(value).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** stdout replaced by an array of lines, and a promise for the first line whose msg starts with `prefix`. */
function capturedStdout() {
  const lines: string[] = [];
  const waiters: Array<{ prefix: string; resolve: (entry: Record<string, unknown>) => void }> = [];
  return {
    lines,
    entries: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    // The service logger writes each turn's lines in one call.
    write(text: string) {
      for (const line of text.split(/(?<=\n)/)) {
        lines.push(line);
        const entry = JSON.parse(line) as Record<string, unknown>;
        for (const waiter of waiters) if (String(entry.msg).startsWith(waiter.prefix)) waiter.resolve(entry);
      }
    },
    next: (prefix: string) => new Promise<Record<string, unknown>>((resolve) => waiters.push({ prefix, resolve })),
  };
}

test("with LOG_FILE the lines go to stdout and, the same, to a file named for the day", async (t) => {
  const directory = temporaryDirectory(t, "iir-log-");
  const stdout = capturedStdout();
  const day = localDay();
  const service = await openServiceLogger({ logLevel: "info", logFile: path.join(directory, "nested", "iir.log"), logFileKeep: 7 }, "test", { write: stdout.write });
  service.logger.info("request", { requestId: "r1" });
  service.logger.debug("below the level");
  await service.close();
  t.deepEqual(fs.readdirSync(path.join(directory, "nested")), [`iir.${day}.1.log`], "the directory is made; the name carries the date");
  t.is(stdout.lines.length, 1);
  t.is(fs.readFileSync(path.join(directory, "nested", `iir.${day}.1.log`), "utf8"), stdout.lines.join(""));
  t.like(stdout.entries()[0], { msg: "request", requestId: "r1", service: "test" });
});

test("a restart the same day appends to that day's file", async (t) => {
  const directory = temporaryDirectory(t, "iir-log-");
  const day = localDay();
  for (const message of ["before restart", "after restart"]) {
    const service = await openServiceLogger({ logLevel: "info", logFile: path.join(directory, "iir.log"), logFileKeep: 7 }, "test", { write: () => undefined });
    service.logger.info(message);
    await service.close();
  }
  const kept = fs.readFileSync(path.join(directory, `iir.${day}.1.log`), "utf8");
  t.deepEqual(kept.trimEnd().split("\n").map((line) => (JSON.parse(line) as { msg: string }).msg), ["before restart", "after restart"]);
});

test("when a new file starts, files beyond LOG_FILE_KEEP are removed, earlier runs' too, and other files are left alone", async (t) => {
  const directory = temporaryDirectory(t, "iir-log-");
  const earlier = ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"].map((day) => `iir.${day}.1.log`);
  const unrelated = ["other.2020-01-01.1.log", "iir.db", "notes.txt"];
  for (const name of [...earlier, ...unrelated]) fs.writeFileSync(path.join(directory, name), "from an earlier run\n");
  // A new file every 200 ms instead of every day: the same rolling and removal, in test time.
  const file = await openRollingLogFile({ path: path.join(directory, "iir.log"), keep: 2, frequency: 200, onProblem: (problem) => t.fail(problem) });
  file.write("this run\n");
  const guard = setTimeout(() => t.fail("no clean-up within 10 s"), 10_000);
  await new Promise((resolve) => file.events.once("cleanup-complete", resolve));
  clearTimeout(guard);
  await file.close();
  const day = localDay();
  t.deepEqual(
    fs.readdirSync(directory).sort(),
    [`iir.${day}.1.log`, `iir.${day}.2.log`, ...unrelated].sort(),
    "two files kept, the new one included; every older one removed; files not named like the log left alone",
  );
  t.is(fs.readFileSync(path.join(directory, `iir.${day}.1.log`), "utf8"), "this run\n");
});

test("a log file that fails to write is reported once on stdout, and logging goes on", async (t) => {
  t.true(fs.existsSync("/dev/full"), "this test writes to Linux's /dev/full, where every write fails with ENOSPC");
  const directory = temporaryDirectory(t, "iir-log-");
  fs.symlinkSync("/dev/full", path.join(directory, `iir.${localDay()}.1.log`));
  const stdout = capturedStdout();
  const service = await openServiceLogger({ logLevel: "info", logFile: path.join(directory, "iir.log"), logFileKeep: 7 }, "test", { write: stdout.write });
  const reported = stdout.next("log file failing");
  service.logger.info("first");
  const report = await reported;
  service.logger.info("second");
  service.logger.info("third");
  // close() writes what is left, which fails again, and gives up on the file.
  await service.close();
  t.like(report, { level: "error", service: "test" });
  t.regex(String(report.problem), /ENOSPC/);
  t.deepEqual(
    stdout.entries().map((entry) => entry.msg),
    ["first", "log file failing; its lines go to stdout only", "second", "third"],
    "one report, however many writes failed; every line still on stdout",
  );
});

test("a LOG_FILE that cannot be opened stops start-up, naming it", async (t) => {
  const directory = temporaryDirectory(t, "iir-log-");
  fs.writeFileSync(path.join(directory, "not-a-directory"), "");
  const logFile = path.join(directory, "not-a-directory", "iir.log");
  const error = await t.throwsAsync(openServiceLogger({ logLevel: "info", logFile, logFileKeep: 7 }, "test", { write: () => undefined }));
  t.true(error?.message.startsWith(`LOG_FILE ${logFile} cannot be opened: `), error?.message);
});
