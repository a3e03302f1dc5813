import type { LogLevel } from "./config.js";

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

function replaceErrors(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value === "bigint") return Number(value);
  return value;
}
