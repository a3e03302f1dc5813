import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, spawnTracked, stopChild, waitUntil } from "./child-processes.js";
import type { SlowStreamShape } from "./config.js";

const here = path.dirname(fileURLToPath(import.meta.url));

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
 * Starts bench/mock-upstream.ts, or with `slow` bench/slow-upstream.ts, on a free loopback port and
 * waits until it answers. Its own process, so neither the harness nor the gateway shares an event
 * loop with it.
 */
export async function startMockUpstream(options: { slow?: SlowStreamShape } = {}): Promise<MockUpstream> {
  const port = await freePort();
  const { slow } = options;
  const [script, shape] = slow === undefined ? ["mock-upstream.ts", []] : ["slow-upstream.ts", [slow.firstChunkMs, slow.chunks, slow.gapMs].map(String)];
  const child = spawnTracked(process.execPath, ["--import", "tsx", path.join(here, script), String(port), ...shape], {
    stdio: ["ignore", "ignore", "inherit"],
    server: `${slow === undefined ? "mock" : "slow mock"} upstream on port ${port}`,
  });
  const url = `http://127.0.0.1:${port}`;
  const count = async () => {
    const answer = (await (await fetch(`${url}/count`)).json()) as { requests?: unknown };
    if (typeof answer.requests !== "number") throw new Error("the mock upstream's /count answered without a number");
    return answer.requests;
  };
  await waitUntil("mock upstream", child, async () => (await count()) >= 0, 30_000);
  return { url, pid: child.pid!, count, stop: () => stopChild(child) };
}
