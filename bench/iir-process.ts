import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, spawnTracked, stopChild, waitUntil } from "./child-processes.js";

const repositoryRoot = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

/** An `iir` command running in its own process, so the load generator never shares its CPU time. */
export interface IirProcess {
  /** What it serves over HTTP: the facade's URL, or the router's for `iir router`. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Its registry file, for a split facade that must read the router's. */
  readonly sqliteDbPath: string;
  stop(): Promise<void>;
}

/** Which `iir` command to start, with what added to the environment. */
export interface IirProcessOptions {
  readonly command?: "all" | "router" | "facade";
  /** Router URL for `iir facade --router`. */
  readonly router?: string;
  /** Registry file; a fresh temporary one when absent (a split facade must share the router's). */
  readonly sqliteDbPath?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** The checkout whose bin/iir.js to run, for before/after comparisons; this one by default. */
  readonly root?: string;
  /** Added to node's own flags, e.g. --cpu-prof. */
  readonly nodeArguments?: readonly string[];
}

/**
 * Starts `iir all` (the default), `iir router` or `iir facade --router URL` on free loopback ports
 * and resolves once it answers: the facade's /ready, or the router's gRPC health check over Connect.
 * Standard output (the per-request log lines) goes to /dev/null; errors stay on the terminal.
 */
export async function startIirProcess(options: IirProcessOptions = {}): Promise<IirProcess> {
  const command = options.command ?? "all";
  const directory = options.sqliteDbPath === undefined ? fs.mkdtempSync(path.join(os.tmpdir(), "iir-bench-")) : undefined;
  const sqliteDbPath = options.sqliteDbPath ?? path.join(directory!, "iir.db");
  const facadePort = await freePort();
  const routerPort = await freePort();
  const args = command === "facade" && options.router !== undefined ? ["facade", "--router", options.router] : [command];
  // As `npm start` runs it (package.json).
  const binary = path.join(options.root ?? repositoryRoot, "bin", "iir.js");
  const child = spawnTracked(process.execPath, ["--max-semi-space-size=8", "--v8-pool-size=2", ...(options.nodeArguments ?? []), binary, ...args], {
    env: {
      ...process.env,
      IIR_HOST: "127.0.0.1",
      IIR_FACADE_PORT: String(facadePort),
      IIR_ROUTER_PORT: String(routerPort),
      IIR_AGENT_PORT: String(await freePort()),
      SQLITE_DB_PATH: sqliteDbPath,
      LOG_LEVEL: "warn",
      ...options.env,
    },
    stdio: ["ignore", "ignore", "inherit"],
    server: `iir ${args.join(" ")} on port ${command === "router" ? routerPort : facadePort}`,
  });
  const port = command === "router" ? routerPort : facadePort;
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntil(`iir ${command}`, child, command === "router" ? () => routerServing(url) : async () => (await fetch(`${url}/ready`)).ok);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return {
    url,
    port,
    pid: child.pid!,
    sqliteDbPath,
    async stop() {
      await stopChild(child);
      if (directory !== undefined) fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** The router's grpc.health.v1 check through the Connect protocol over HTTP/1.1. */
async function routerServing(url: string): Promise<boolean> {
  const response = await fetch(`${url}/grpc.health.v1.Health/Check`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  return response.ok && ((await response.json()) as { status?: unknown }).status === "SERVING";
}
