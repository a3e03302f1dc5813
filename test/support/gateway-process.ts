import path from "node:path";
import type { ExecutionContext } from "ava";
import { testAdminToken } from "./admin.js";
import { tinyModel } from "./agent-fixtures.js";
import { spawnIir, type IirProcess } from "./iir-process.js";
import { freePort, stopOnTeardown, temporaryDirectory } from "./process-fixtures.js";

/** `iir all` as its own process, without the built-in agent, and the log lines it wrote so far. */
export interface GatewayProcess {
  readonly process: IirProcess;
  readonly facadeUrl: string;
  readonly routerUrl: string;
  readonly routerPort: number;
  /** Every log line so far. */
  logs(): string[];
  /** Log lines whose message contains `text`. */
  count(text: string): number;
}

/** Starts `iir all` on free loopback ports with a fresh SQLite file; `env` adds configuration. */
export async function startGatewayProcess(t: ExecutionContext, env: Record<string, string> = {}): Promise<GatewayProcess> {
  const directory = temporaryDirectory(t);
  const facadePort = await freePort();
  const routerPort = await freePort();
  const iir = stopOnTeardown(
    t,
    spawnIir(["all"], {
      IIR_HOST: "127.0.0.1",
      SQLITE_DB_PATH: path.join(directory, "iir.db"),
      IIR_FACADE_PORT: String(facadePort),
      IIR_ROUTER_PORT: String(routerPort),
      IIR_AGENT_ENABLED: "false",
      IIR_ADMIN_TOKEN: testAdminToken,
      IIR_REGISTRY_REFRESH_MS: "50",
      IIR_PROVIDER_MODELS_REFRESH_MS: "0",
      CACHE_TTL: "0",
      LOG_LEVEL: "info",
      ...env,
    }),
  );
  const lines: string[] = [];
  let partial = "";
  iir.child.stdout!.on("data", (text: string) => {
    const split = (partial + text).split("\n");
    partial = split.pop() ?? "";
    lines.push(...split);
  });
  await iir.waitForLog("iir started", 90_000);
  return {
    process: iir,
    facadeUrl: `http://127.0.0.1:${facadePort}/v1`,
    routerUrl: `http://127.0.0.1:${routerPort}`,
    routerPort,
    logs: () => [...lines],
    count: (text) => lines.filter((line) => line.includes(text)).length,
  };
}

/** An agent process serving the tiny model on one thread, joining the router on `routerPort` as `id`. */
export async function startAgentProcess(t: ExecutionContext, routerPort: number, id: string, env: Record<string, string> = {}): Promise<IirProcess> {
  return stopOnTeardown(
    t,
    spawnIir(["agent", "--router", `http://127.0.0.1:${routerPort}`], {
      IIR_HOST: "127.0.0.1",
      IIR_AGENT_PORT: String(await freePort()),
      IIR_AGENT_MODEL: await tinyModel(),
      IIR_AGENT_ID: id,
      IIR_AGENT_THREADS: "1",
      IIR_AGENT_GPU: "false",
      HEARTBEAT_INTERVAL: "1",
      ...env,
    }),
  );
}
