import { pino, type DestinationStream } from "pino";
import type { Config, LogLevel } from "./config.js";
import { openRollingLogFile } from "./rolling-log-file.js";

/** Structured JSON logging, one line per event. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Writes `{"level":"info","time":ISO,"service":name,...fields,"msg":message}` lines at or above
 * `level` to `write`, one line a call, or to stdout without one.
 */
export function createLogger(options: { level: LogLevel; name: string; write?: (line: string) => void }): Logger {
  if (options.level === "silent") return silentLogger;
  return toLogger(pino(loggerOptions(options.level, options.name), options.write ? { write: options.write } : openStdout()));
}

/** A process's logger and how to flush it on the way out. */
export interface ServiceLogger {
  readonly logger: Logger;
  /** Writes what is pending and closes the log file, if any; later lines go to stdout only. */
  close(): Promise<void>;
}

/**
 * The logger of a service process: JSON lines at LOG_LEVEL on stdout and, with LOG_FILE, the same
 * lines in a file per day (see rolling-log-file.ts), LOG_FILE_KEEP files kept. Rejects when LOG_FILE
 * cannot be opened. `write` takes stdout's place in tests.
 */
export async function openServiceLogger(
  config: Pick<Config, "logLevel" | "logFile" | "logFileKeep">,
  name: string,
  options: { write?: (text: string) => void } = {},
): Promise<ServiceLogger> {
  if (config.logLevel === "silent") return { logger: silentLogger, close: async () => undefined };
  const stdout = options.write ?? writeTo(openStdout());
  if (config.logFile === undefined) {
    const lines = batchLines(stdout);
    return { logger: toLogger(pino(loggerOptions(config.logLevel, name), lines)), close: async () => lines.close() };
  }
  let logger: Logger = silentLogger;
  const file = await openRollingLogFile({
    path: config.logFile,
    keep: config.logFileKeep,
    onProblem: (problem) => logger.error("log file failing; its lines go to stdout only", { problem }),
  });
  const lines = batchLines((text) => {
    stdout(text);
    file.write(text);
  });
  logger = toLogger(pino(loggerOptions(config.logLevel, name), lines));
  return {
    logger,
    close: () => {
      lines.close();
      return file.close();
    },
  };
}

/**
 * Lines logged within one turn of the event loop go out together in one synchronous write per
 * destination, on the next turn, on close, or on exit, so a line logged just before `process.exit`
 * still gets out. Under load the request log writes a line per request: one system call per turn
 * instead of one per line, and no write left in flight on a worker thread (pino's asynchronous
 * destination measured 3× the CPU per line of this, mostly in thread hand-offs).
 */
function batchLines(write: (text: string) => void): { write(line: string): void; close(): void } {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending.length === 1 ? pending[0]! : pending.join("");
    pending = [];
    write(text);
  };
  process.once("exit", flush);
  return {
    write(line) {
      pending.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    close() {
      process.off("exit", flush);
      flush();
    },
  };
}

/** stdout through sonic-boom, synchronous (pino's default): it retries a full pipe and goes quiet on a closed one. */
function openStdout(): ReturnType<typeof pino.destination> {
  const stdout = pino.destination({ dest: 1, sync: true });
  let told = false;
  // pino.destination silences a closed pipe (EPIPE) itself; any other failure would be thrown.
  stdout.on("error", (error: Error) => {
    if (told) return;
    told = true;
    process.stderr.write(`iir: cannot write the log to stdout: ${error.message}\n`);
  });
  return stdout;
}

function writeTo(destination: DestinationStream): (text: string) => void {
  return (text) => destination.write(text);
}

const silentLogger: Logger = Object.freeze({ debug() {}, info() {}, warn() {}, error() {} });

function toLogger(instance: pino.Logger): Logger {
  return {
    debug: (message, fields) => (fields === undefined ? instance.debug(message) : instance.debug(fields, message)),
    info: (message, fields) => (fields === undefined ? instance.info(message) : instance.info(fields, message)),
    warn: (message, fields) => (fields === undefined ? instance.warn(message) : instance.warn(fields, message)),
    error: (message, fields) => (fields === undefined ? instance.error(message) : instance.error(fields, message)),
  };
}

// Headers that carry credentials, as fields of their own or inside a `headers` field.
const credentialHeaders = ["authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"];
// Field names a caller might give a secret under. Exact names: pino's paths are not patterns, and a
// path starting with `*` would run the redactor on every field of every line.
const credentialFields = ["apiKey", "api_key", "key", "token", "accessToken", "access_token", "refreshToken", "refresh_token", "adminToken", "agentToken", "secret", "clientSecret", "client_secret", "password"];
const redactedPaths = [
  ...credentialHeaders.map((header) => `["${header}"]`),
  ...credentialHeaders.map((header) => `headers["${header}"]`),
  // As written by hand or copied from a fetch call: Authorization, Proxy-Authorization, X-Api-Key...
  ...credentialHeaders.map((header) => `headers["${header.replace(/(^|-)[a-z]/g, (start) => start.toUpperCase())}"]`),
  ...credentialFields,
];

/**
 * pino's options for our line shape. Everything here is set up once: the level label is cached per
 * level, redaction runs only on lines that have a redacted field's name, and the error serializers
 * only on fields of those names.
 */
function loggerOptions(level: Exclude<LogLevel, "silent">, name: string): pino.LoggerOptions {
  return {
    level,
    base: { service: name },
    timestamp: isoTime(),
    formatters: { level: (label) => ({ level: label }) },
    // Name and message only: a stack names files, and an error's own fields can hold what a request carried.
    serializers: { err: errorFields, error: errorFields, cause: errorFields },
    redact: { paths: redactedPaths, censor: "[redacted]" },
  };
}

function errorFields(value: unknown): unknown {
  return value instanceof Error ? { name: value.name, message: value.message } : value;
}

/** pino's isoTime, formatted once per millisecond however many lines share it. */
function isoTime(): () => string {
  let lastMs = 0;
  let last = "";
  return () => {
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      last = `,"time":"${new Date(now).toISOString()}"`;
    }
    return last;
  };
}
