import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import test from "ava";
import { temporaryDirectory } from "../../test/support/process-fixtures.js";
import { createLogger, type Logger } from "./logger.js";

function capturedLogger(level: "debug" | "info" | "warn" = "info"): { logger: Logger; lines: string[]; entries(): Record<string, unknown>[] } {
  const lines: string[] = [];
  const logger = createLogger({ level, name: "test-service", write: (line) => lines.push(line) });
  return { logger, lines, entries: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

test("one JSON line per event: level as a word, ISO time, service, message and the fields", (t) => {
  const { logger, lines, entries } = capturedLogger();
  logger.info("request", { requestId: "r1", status: 200, stream: true, ttftMs: undefined, tokens: 12n });
  logger.warn("no fields");
  t.is(lines.length, 2);
  t.true(lines.every((line) => line.endsWith("}\n") && !line.slice(0, -1).includes("\n")), "each write is exactly one line");
  const [request, warning] = entries();
  t.deepEqual(Object.keys(request!), ["level", "time", "service", "requestId", "status", "stream", "tokens", "msg"], "undefined fields are left out");
  t.like(request, { level: "info", service: "test-service", msg: "request", requestId: "r1", status: 200, stream: true, tokens: 12 });
  const time = String(request!.time);
  t.is(new Date(time).toISOString(), time);
  t.like(warning, { level: "warn", msg: "no fields" });
});

test("lines below the level are not written; silent writes nothing", (t) => {
  const { logger, entries } = capturedLogger("info");
  logger.debug("detail");
  logger.info("shown");
  logger.error("failure");
  t.deepEqual(entries().map((entry) => [entry.level, entry.msg]), [["info", "shown"], ["error", "failure"]]);
  const written: string[] = [];
  const silent = createLogger({ level: "silent", name: "quiet", write: (line) => written.push(line) });
  silent.error("never");
  t.deepEqual(written, []);
});

test("credentials in headers and in fields named for them come out redacted; the caller's objects are untouched", (t) => {
  const { logger, lines, entries } = capturedLogger();
  const headers = { authorization: "Bearer fake-secret-header-0001", "x-api-key": "fake-secret-xkey-0002", Authorization: "Bearer fake-secret-capital-0003", accept: "application/json" };
  logger.warn("upstream refused", {
    headers,
    authorization: "Bearer fake-secret-field-0004",
    apiKey: "fake-secret-apikey-0005",
    agentToken: "agent-secret-0006",
    password: "hunter2-0007",
    keyName: "alice",
    promptTokens: 7,
  });
  const written = lines.join("");
  for (const secret of ["0001", "0002", "0003", "0004", "0005", "0006", "0007"]) t.false(written.includes(secret), `secret ${secret} is not in the line`);
  t.like(entries()[0], {
    headers: { authorization: "[redacted]", "x-api-key": "[redacted]", Authorization: "[redacted]", accept: "application/json" },
    authorization: "[redacted]",
    apiKey: "[redacted]",
    agentToken: "[redacted]",
    password: "[redacted]",
    keyName: "alice",
    promptTokens: 7,
  });
  t.is(headers.authorization, "Bearer fake-secret-header-0001", "redaction works on a copy");
  logger.info("no credentials here", { requestId: "r2" });
  t.false("authorization" in entries()[1]!, "an absent field is not added as [redacted]");
});

test("an Error in a field is written as its name and message, without the stack", (t) => {
  const { logger, lines, entries } = capturedLogger();
  const error = new TypeError("fetch failed");
  logger.error("request failed", { error, err: new RangeError("too far"), cause: "plain words stay" });
  t.like(entries()[0], { error: { name: "TypeError", message: "fetch failed" }, err: { name: "RangeError", message: "too far" }, cause: "plain words stay" });
  t.false(lines[0]!.includes("logger.test"), "no stack frames");
});

const loggerModule = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), "logger.ts")).href;
const repositoryRoot = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

test("lines logged right before process.exit still reach stdout and the log file", async (t) => {
  const directory = temporaryDirectory(t, "iir-log-exit-");
  const script = path.join(directory, "log-then-exit.mts");
  // Enough lines that some are still buffered, and the last one logged in the same turn as the exit.
  fs.writeFileSync(
    script,
    `import { openServiceLogger } from ${JSON.stringify(loggerModule)};
const service = await openServiceLogger({ logLevel: "info", logFile: process.argv[2], logFileKeep: 7 }, "exit-test");
for (let i = 0; i < 3000; i++) service.logger.info("line", { i, padding: "x".repeat(100) });
service.logger.info("last words");
process.exit(0);
`,
  );
  const child = spawn(process.execPath, ["--import", "tsx", script, path.join(directory, "logs", "iir.log")], { cwd: repositoryRoot, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text));
  child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  t.is(code, 0, stderr);
  const printed = stdout.trimEnd().split("\n");
  t.is(printed.length, 3001);
  t.like(JSON.parse(printed.at(-1)!) as object, { msg: "last words", service: "exit-test" });
  const [file] = fs.readdirSync(path.join(directory, "logs"));
  const kept = fs.readFileSync(path.join(directory, "logs", file!), "utf8");
  t.is(kept.split("\n").length - 1, 3001, "the file holds every line");
  t.true(kept === stdout, "the file holds the same lines as stdout, the last included");
});
