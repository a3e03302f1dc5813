import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, spawnTracked, stopChild, waitUntil } from "./child-processes.js";

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "mock-upstream.ts");

/** The mock OpenAI upstream running in its own process. */
export interface MockUpstream {
  /** Origin, e.g. http://127.0.0.1:40123; the OpenAI base URL is this plus /v1. */
  readonly url: string;
  readonly pid: number;
  /** Chat completion requests it has received so far. */
  count(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts bench/mock-upstream.ts on a free loopback port and waits until it answers. Its own
 * process, so neither the harness nor the gateway shares an event loop with it.
 */
export async function startMockUpstream(): Promise<MockUpstream> {
  const port = await freePort();
  const child = spawnTracked(process.execPath, ["--import", "tsx", script, String(port)], { stdio: ["ignore", "ignore", "inherit"], server: `mock upstream on port ${port}` });
  const url = `http://127.0.0.1:${port}`;
  const count = async () => {
    const answer = (await (await fetch(`${url}/count`)).json()) as { requests?: unknown };
    if (typeof answer.requests !== "number") throw new Error("the mock upstream's /count answered without a number");
    return answer.requests;
  };
  await waitUntil("mock upstream", child, async () => (await count()) >= 0, 30_000);
  return { url, pid: child.pid!, count, stop: () => stopChild(child) };
}
