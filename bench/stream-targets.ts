import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, spawnTracked, stopChild, waitUntil } from "./child-processes.js";
import { startIirProcess } from "./iir-process.js";
import type { MockUpstream } from "./mock-process.js";
import { nginxPath, startNginxProxy } from "./nginx-proxy.js";
import { processTree } from "./proc-stats.js";

const here = path.dirname(fileURLToPath(import.meta.url));

/** What the streams scenario compares, in the order they take turns. */
export const streamTargetNames = ["direct", "bare", "nginx", "iir"] as const;
export type StreamTargetName = (typeof streamTargetNames)[number];

/** What each is, for the tables. */
export const streamTargetLabels: Readonly<Record<StreamTargetName, string>> = {
  direct: "straight to the mock",
  bare: "bare Node proxy (floor)",
  nginx: "nginx, one process (limit)",
  iir: "iir all → mock",
};

/** A place to send streamed chat requests to. */
export interface StreamTarget {
  readonly name: StreamTargetName;
  /** Full chat completions URL. */
  readonly url: string;
  /** The gateway's processes now (none for direct): the ones whose CPU time and memory count. */
  processes(): number[];
}

/** The targets that started, why any did not, and how to stop them all. */
export interface StreamTargets {
  readonly targets: readonly StreamTarget[];
  readonly notes: readonly string[];
  /** `iir all`'s pid, to find its CPU profile by. */
  readonly iirPid: number | undefined;
  stop(): Promise<void>;
}

/** How to start `iir all`: which checkout, and with which node flags (--cpu-prof). */
export interface IirStartOptions {
  readonly root: string;
  readonly nodeArguments: readonly string[];
  /** The targets to start (--stream-targets); absent: all. */
  readonly only?: ReadonlySet<string>;
}

/**
 * Starts the bare proxy, nginx (when installed) and `iir all` in front of the slow mock. `iir all`
 * as the gateway scenarios run it: the agent off, request logs at info (to /dev/null), the response
 * cache on (every request is distinct, so each is looked up and misses). A target that cannot start
 * is left out with a note, so a broken gateway still leaves the floor and the limit measured; the
 * goals that need it then fail.
 */
export async function startStreamTargets(mock: MockUpstream, iir: IirStartOptions): Promise<StreamTargets> {
  const chat = (origin: string) => `${origin}/v1/chat/completions`;
  const stops: (() => Promise<void>)[] = [];
  const targets: StreamTarget[] = [{ name: "direct", url: chat(mock.url), processes: () => [] }];
  const notes: string[] = [];
  let iirPid: number | undefined;
  try {
    const wanted = (name: StreamTargetName) => iir.only === undefined || iir.only.has(name);
    if (wanted("bare")) {
      const bare = await startBareProxy(mock.url);
      stops.push(bare.stop);
      targets.push({ name: "bare", url: chat(bare.url), processes: () => [bare.pid] });
    }
    const nginx = wanted("nginx") ? await startNginxProxy(mock.url) : undefined;
    if (!wanted("nginx")) notes.push("nginx not measured (--stream-targets)");
    else if (nginx === undefined) notes.push(`nginx skipped: ${nginxPath} is not installed (Debian: apt-get install nginx-light)`);
    else {
      stops.push(nginx.stop);
      targets.push({ name: "nginx", url: chat(nginx.url), processes: () => processTree(nginx.pid) });
    }
    if (wanted("iir")) {
      try {
        const env = { IIR_AGENT_ENABLED: "false", OPENAI_BASE_URL: `${mock.url}/v1`, EXTERNAL_OPENAI_KEY: "x", LOG_LEVEL: "info" };
        const all = await startIirProcess({ env, root: iir.root, nodeArguments: iir.nodeArguments });
        stops.push(all.stop);
        iirPid = all.pid;
        targets.push({ name: "iir", url: chat(all.url), processes: () => processTree(all.pid) });
      } catch (error) {
        notes.push(`iir all did not start, so it was not measured: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  } catch (error) {
    for (const stop of stops.reverse()) await stop();
    throw error;
  }
  return {
    targets,
    notes,
    iirPid,
    async stop() {
      for (const stop of stops.reverse()) await stop();
    },
  };
}

/** bench/bare-proxy.ts in its own process, with the node flags `iir all` runs with, so their CPU time compares. */
async function startBareProxy(upstream: string): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawnTracked(process.execPath, ["--max-semi-space-size=8", "--v8-pool-size=2", "--import", "tsx", path.join(here, "bare-proxy.ts"), String(port), upstream], {
    stdio: ["ignore", "ignore", "inherit"],
    server: `bare proxy on port ${port}`,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntil("bare proxy", child, async () => (await fetch(`${url}/count`)).ok, 30_000);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return { url, pid: child.pid!, stop: () => stopChild(child) };
}
