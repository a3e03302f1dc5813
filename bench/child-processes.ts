import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";

// Every process the benchmark starts, so none outlives it whatever way it ends.
const children = new Set<ChildProcess>();
const stopping = new WeakSet<ChildProcess>();
let hooked = false;

/**
 * Spawns a child process that is killed when the benchmark exits, fails or is interrupted. A
 * `server` (anything meant to run until stopped) that exits on its own is reported on stderr with
 * its exit code or signal, since a load run against it then fails with only "connection refused".
 */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions & { server?: string }): ChildProcess {
  hookExit();
  const { server, ...spawnOptions } = options;
  const child = spawn(command, args, spawnOptions);
  children.add(child);
  child.once("exit", (code, signal) => {
    children.delete(child);
    if (server !== undefined && !stopping.has(child)) {
      process.stderr.write(`bench: ${server} (pid ${child.pid}) exited unexpectedly: ${signal ?? `code ${code}`}\n`);
    }
  });
  return child;
}

/** Sends SIGTERM and waits for the exit; SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  stopping.add(child);
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Kills every child still running, at once and without waiting: for exit paths. */
export function killAllChildren(): void {
  for (const child of children) {
    stopping.add(child);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once("exit", killAllChildren);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      killAllChildren();
      process.exit(130);
    });
  }
}

/** Polls `check` every 100 ms until it is true; fails when the child exits or the time is up. */
export async function waitUntil(what: string, child: ChildProcess, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    try {
      if (await check()) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not become ready within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export { freePort } from "../test/support/process-fixtures.js";
