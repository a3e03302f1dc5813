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
  const emit = (level: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (rank[level] < threshold) return;
    const entry = { level, time: new Date().toISOString(), service: options.name, msg: message, ...fields };
    write(`${JSON.stringify(entry, replaceErrors)}\n`);
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
    return { logger: createLogger({ level: config.logLevel, name, write: stdout }), close: async () => {} };
  }
  const file = openDailyLogFile({ path: config.logFile, now: options.now });
  const write = (line: string) => {
    stdout(line);
    file.write(line);
  };
  return { logger: createLogger({ level: config.logLevel, name, write }), close: () => file.close() };
}

function replaceErrors(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value === "bigint") return Number(value);
  return value;
}
