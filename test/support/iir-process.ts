import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const binary = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "iir.js");

/** An `iir` command running as its own process, as a user starts it. */
export interface IirProcess {
  readonly child: ChildProcess;
  /** Resolves with the first JSON log line whose `msg` is `message`. */
  waitForLog(message: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves when the process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  kill(signal?: NodeJS.Signals): void;
}

/** Starts `node bin/iir.js ...args` with `env` added to a minimal environment. */
export function spawnIir(args: string[], env: Record<string, string>): IirProcess {
  const child = spawn(process.execPath, [binary, ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const waiters: Array<{ message: string; resolve: (entry: Record<string, unknown>) => void }> = [];
  const seen: Record<string, unknown>[] = [];
  let partial = "";
  child.stdout!.setEncoding("utf8").on("data", (text: string) => {
    stdout += text;
    const lines = (partial + text).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.startsWith("{")) continue;
      const entry = JSON.parse(line) as Record<string, unknown>;
      seen.push(entry);
      for (const waiter of waiters.filter((w) => w.message === entry.msg)) waiter.resolve(entry);
    }
  });
  child.stderr!.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return {
    child,
    exited,
    kill: (signal = "SIGTERM") => void child.kill(signal),
    waitForLog(message, timeoutMs = 60_000) {
      const found = seen.find((entry) => entry.msg === message);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${message}" log within ${timeoutMs} ms; stderr: ${stderr}; stdout tail: ${stdout.slice(-2000)}`)), timeoutMs);
        waiters.push({ message, resolve: (entry) => (clearTimeout(timer), resolve(entry)) });
        void exited.then((result) => {
          clearTimeout(timer);
          reject(new Error(`iir exited (${result.code}) before "${message}": ${result.stderr}`));
        });
      });
    },
  };
}
