import fs from "node:fs";
import path from "node:path";

/** An append-only log file that starts a new file at each UTC midnight. */
export interface DailyLogFile {
  /** Appends one line (it already ends with a newline); never blocks on the disk. */
  write(line: string): void;
  /** The file lines go to now. */
  readonly currentPath: string;
  /** Flushes what is buffered and closes the file. */
  close(): Promise<void>;
}

/** How the file is named and what time it is. */
export interface DailyLogFileOptions {
  /** `logs/iir.log` writes `logs/iir-2026-11-23.log`; without an extension `.log` is added. */
  readonly path: string;
  /** Milliseconds since the epoch; tests inject a clock. */
  readonly now?: () => number;
  /** Told once when the file cannot be written (the process keeps running). */
  readonly onError?: (error: Error) => void;
}

const dayMs = 86_400_000;

/** The dated file name for `basePath` on the UTC day of `time`. */
export function dailyLogFilePath(basePath: string, time: number): string {
  const extension = path.extname(basePath);
  const stem = extension === "" ? basePath : basePath.slice(0, -extension.length);
  return `${stem}-${new Date(time).toISOString().slice(0, 10)}${extension || ".log"}`;
}

/**
 * Opens the day's file for appending (creating its directory once, at start-up). Each write only
 * compares the day number with the current one; at a new UTC day the old stream is ended and the
 * next file opened, so lines are never written synchronously.
 */
export function openDailyLogFile(options: DailyLogFileOptions): DailyLogFile {
  const now = options.now ?? Date.now;
  fs.mkdirSync(path.dirname(path.resolve(options.path)), { recursive: true });
  let reported = false;
  const onError = (error: Error) => {
    if (reported) return;
    reported = true;
    (options.onError ?? ((failure: Error) => process.stderr.write(`log file: ${failure.message}\n`)))(error);
  };
  const open = (time: number) => {
    const file = dailyLogFilePath(options.path, time);
    const stream = fs.createWriteStream(file, { flags: "a" });
    stream.on("error", onError);
    return { day: Math.floor(time / dayMs), file, stream };
  };
  let current = open(now());
  const ending = new Set<Promise<void>>();
  const end = (stream: fs.WriteStream) => {
    const ended = new Promise<void>((resolve) => stream.end(resolve));
    ending.add(ended);
    void ended.then(() => ending.delete(ended));
  };
  return {
    write(line) {
      const time = now();
      if (Math.floor(time / dayMs) !== current.day) {
        end(current.stream);
        current = open(time);
      }
      current.stream.write(line);
    },
    get currentPath() {
      return current.file;
    },
    async close() {
      end(current.stream);
      await Promise.all(ending);
    },
  };
}
