import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import type { ExecutionContext } from "ava";
import { freePort } from "./process-fixtures.js";

/** The machine's shared Redis, which CI provides too. */
export const sharedRedisUrl = "redis://127.0.0.1:6379";

/** Whether something answers PING at host:port within a second. */
export async function redisAnswers(port = 6379, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (data) => done(data.toString().startsWith("+PONG")));
  });
}

/**
 * Skips a test that needs Redis when none runs here — loudly — and fails it instead when
 * CI_REQUIRE_SERVICES=1, so CI always exercises it. Returns whether the test may go on.
 */
export async function requireRedis(t: ExecutionContext): Promise<boolean> {
  if (await redisAnswers()) return true;
  const message = `Redis is not reachable at ${sharedRedisUrl}`;
  if (process.env.CI_REQUIRE_SERVICES === "1") {
    t.fail(`${message} (CI_REQUIRE_SERVICES=1)`);
    return false;
  }
  console.error(`\n!!! SKIPPING "${t.title}": ${message}. Start Redis to run it.\n`);
  t.pass();
  return false;
}

/** A throwaway redis-server on a spare port that a test may stop and start again. */
export interface DisposableRedis {
  readonly port: number;
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Keys matching a pattern, counted with redis-cli. */
  keyCount(pattern: string): Promise<number>;
}

/** Creates (not starts) a private Redis; it is stopped when the test ends. */
export async function disposableRedis(t: ExecutionContext): Promise<DisposableRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const stop = async () => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill("SIGKILL");
    await exited;
  };
  t.teardown(stop);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
      const deadline = Date.now() + 10_000;
      while (!(await redisAnswers(port))) {
        if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    stop,
    async keyCount(pattern) {
      const output = await new Promise<string>((resolve) => {
        const cli = spawn("redis-cli", ["-p", String(port), "--scan", "--pattern", pattern]);
        let text = "";
        cli.stdout.on("data", (chunk: Buffer) => (text += chunk.toString()));
        cli.once("close", () => resolve(text));
        cli.once("error", () => resolve(""));
      });
      return output.split("\n").filter((line) => line.trim() !== "").length;
    },
  };
}
