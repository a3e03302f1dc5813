import path from "node:path";
import pinoRoll from "pino-roll";

/** LOG_FILE: the log's lines appended to one file per day, the oldest removed. */
export interface RollingLogFile {
  /** Appends text (whole lines), synchronously; a failure is reported, never thrown. */
  write(text: string): void;
  /** Closes the file; what was written is on disk. */
  close(): Promise<void>;
  /** Emits `cleanup-complete` after each removal of old files (what tests wait for). */
  readonly events: Pick<NodeJS.EventEmitter, "once">;
}

/** Where the files go and how many stay. */
export interface RollingLogFileOptions {
  /** LOG_FILE. `logs/iir.log` writes `logs/iir.2026-11-23.1.log`; without an extension `.log` is added. */
  readonly path: string;
  /** LOG_FILE_KEEP: files kept when a new one starts, the new one included. */
  readonly keep: number;
  /** Told of the first problem writing; the process keeps running without the file's lines. */
  readonly onProblem: (problem: string) => void;
  /** How often a new file starts: "daily", at local midnight (the default); tests give milliseconds. */
  readonly frequency?: "daily" | number;
}

// A failing disk must not grow the process without bound: past this much unwritten, lines are dropped.
const maxBufferedBytes = 16 * 1024 * 1024;

/**
 * Opens today's file through pino-roll, appending to it after a restart the same day; rejects when
 * it cannot be opened, so a wrong LOG_FILE stops start-up with its name. Writes are synchronous:
 * the logger hands over one batch per turn of the event loop, a batch is in the file before the
 * process can exit, and a new day's file exists before pino-roll counts the files to keep.
 */
export async function openRollingLogFile(options: RollingLogFileOptions): Promise<RollingLogFile> {
  const stream = await pinoRoll({
    file: path.resolve(options.path),
    frequency: options.frequency ?? "daily",
    dateFormat: "yyyy-MM-dd",
    mkdir: true,
    // removeOtherLogFiles: files left by earlier runs count too, not only those this process made.
    limit: { count: options.keep, removeOtherLogFiles: true },
    sync: true,
    maxLength: maxBufferedBytes,
  }).catch((error: unknown) => {
    throw new Error(`LOG_FILE ${options.path} cannot be opened: ${error instanceof Error ? error.message : String(error)}`);
  });
  let told = false;
  const tell = (problem: string) => {
    if (told) return;
    told = true;
    options.onProblem(problem);
  };
  // Without an 'error' listener a failed write would be thrown at the caller.
  stream.on("error", (error: Error) => tell(`cannot write ${stream.file}: ${error.message}`));
  stream.on("drop", () => tell(`lines dropped: ${stream.file} could not be written for too long`));
  return {
    write(text) {
      if (!stream.destroyed) stream.write(text);
    },
    close: () => closed(stream),
    events: stream,
  };
}

function closed(stream: Awaited<ReturnType<typeof pinoRoll>>): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once("close", () => resolve());
    // A disk that keeps failing would leave the last write pending for ever: give up on it.
    stream.once("error", () => stream.destroy());
    stream.end();
  });
}
