import type { Config, LogLevel } from "./config.js";
import { openDailyLogFile } from "./daily-log-file.js";

/** Structured JSON logging, one line per event. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Writes JSON lines at or above `level` to `write` (stdout by default). */
export function createLogger(options: { level: LogLevel; name: string; write?: (line: string) => void }): Logger {
  const threshold = rank[options.level];
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const service = JSON.stringify(options.name);
  const emit = (level: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (rank[level] < threshold) return;
    write(formatLine(level, service, message, fields));
  };
  return {
    debug: (message, fields) => emit("debug", message, fields),
    info: (message, fields) => emit("info", message, fields),
    warn: (message, fields) => emit("warn", message, fields),
    error: (message, fields) => emit("error", message, fields),
  };
}

/** A process's logger and how to flush it on the way out. */
export interface ServiceLogger {
  readonly logger: Logger;
  /** Flushes and closes the log file, if any. */
  close(): Promise<void>;
}

/**
 * The logger of a service process: JSON lines at LOG_LEVEL on stdout and, with LOG_FILE, the same
 * lines appended to a file that starts afresh each UTC day.
 */
export function openServiceLogger(
  config: Pick<Config, "logLevel" | "logFile">,
  name: string,
  options: { write?: (line: string) => void; now?: () => number } = {},
): ServiceLogger {
  const stdout = options.write ?? ((line: string) => process.stdout.write(line));
  if (config.logFile === undefined || config.logLevel === "silent") {
    const lines = batchLines(stdout);
    return { logger: createLogger({ level: config.logLevel, name, write: lines.write }), close: async () => lines.close() };
  }
  const file = openDailyLogFile({ path: config.logFile, now: options.now });
  const lines = batchLines((text) => {
    stdout(text);
    file.write(text);
  });
  return {
    logger: createLogger({ level: config.logLevel, name, write: lines.write }),
    close: () => {
      lines.close();
      return file.close();
    },
  };
}

/**
 * Lines written within one turn of the event loop go out together in one write (under load, the
 * request log's lines would otherwise cost a system call each). They are flushed on the next turn,
 * on close, and on exit, so a line logged just before `process.exit` still gets out.
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

/**
 * `{"level","time","service","msg",...fields}` as one JSON line. The request log writes one per
 * request, so the common case — fields that are all strings, numbers and booleans — is serialized
 * without a replacer (which would slow every key down); Errors and bigints take the careful path.
 */
function formatLine(level: LogLevel, service: string, message: string, fields: Record<string, unknown> | undefined): string {
  const head = `{"level":"${level}","time":"${isoNow()}","service":${service},"msg":${JSON.stringify(message)}`;
  if (fields === undefined) return `${head}}\n`;
  const body = JSON.stringify(fields, hasOnlyPlainValues(fields) ? undefined : replaceErrors);
  return body.length <= 2 ? `${head}}\n` : `${head},${body.slice(1)}\n`;
}

function hasOnlyPlainValues(fields: Record<string, unknown>): boolean {
  for (const key in fields) {
    const value = fields[key];
    if ((typeof value === "object" && value !== null) || typeof value === "bigint") return false;
  }
  return true;
}

// Lines logged within the same millisecond share one formatted timestamp.
let isoMs = 0;
let iso = "";
function isoNow(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    iso = new Date(now).toISOString();
  }
  return iso;
}

function replaceErrors(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value === "bigint") return Number(value);
  return value;
}
