import { startIirProcess, type IirProcess } from "./iir-process.js";
import type { MockUpstream } from "./mock-process.js";

/** The scenarios the load runs compare, in the order they take turns. */
export const targetNames = ["direct", "all", "split", "cache"] as const;
export type TargetName = (typeof targetNames)[number];

/** What each scenario is, for the tables. */
export const targetLabels: Readonly<Record<TargetName, string>> = {
  direct: "(a) direct to the mock",
  all: "(b) iir all → mock",
  split: "(c) iir facade → h2c → iir router → mock",
  cache: "(d) iir all, cache hits",
};

/** A place to send chat requests to, and the processes that serve it. */
export interface Target {
  readonly name: TargetName;
  /** Full chat completions URL. */
  readonly url: string;
  /** The gateway processes (none for direct), by role. */
  readonly processes: ReadonlyMap<string, IirProcess>;
}

/** Everything started for the gateway scenarios, and how to stop it all. */
export interface Targets {
  readonly all: ReadonlyMap<TargetName, Target>;
  /** The facade of (c) and the router port it calls, to count its h2c connections. */
  readonly split: { facadePid: number; routerPort: number };
  stop(): Promise<void>;
}

/**
 * Starts the gateways of (b), (c) and (d), all pointed at the mock as the `openai` provider. The
 * agent is off (nothing here should compete for the CPU), but everything else stays as a user runs
 * it: request logging at info (written to /dev/null), API key guards, rate limiting, telemetry, and
 * the response cache (every request of (a)–(c) is unique, so each is looked up and misses).
 */
export async function startTargets(mock: MockUpstream, options: { iirRoot: string }): Promise<Targets> {
  const env = { IIR_AGENT_ENABLED: "false", OPENAI_BASE_URL: `${mock.url}/v1`, EXTERNAL_OPENAI_KEY: "x", LOG_LEVEL: "info" };
  const started: IirProcess[] = [];
  const start = async (iirOptions: Parameters<typeof startIirProcess>[0]) => {
    const iir = await startIirProcess({ ...iirOptions, root: options.iirRoot });
    started.unshift(iir);
    return iir;
  };
  const stop = async () => {
    for (const iir of started) await iir.stop();
  };
  try {
    const all = await start({ env });
    const router = await start({ command: "router", env });
    const facade = await start({ command: "facade", router: router.url, sqliteDbPath: router.sqliteDbPath, env });
    const cache = await start({ env });
    const chat = (origin: string) => `${origin}/v1/chat/completions`;
    const targets: Target[] = [
      { name: "direct", url: chat(mock.url), processes: new Map() },
      { name: "all", url: chat(all.url), processes: new Map([["iir all", all]]) },
      { name: "split", url: chat(facade.url), processes: new Map([["facade", facade], ["router", router]]) },
      { name: "cache", url: chat(cache.url), processes: new Map([["iir all", cache]]) },
    ];
    return { all: new Map(targets.map((target) => [target.name, target])), split: { facadePid: facade.pid, routerPort: router.port }, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
