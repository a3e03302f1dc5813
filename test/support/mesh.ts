import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRouterTransport } from "@connectrpc/connect";
import { loadConfig, type Config } from "../../services/common/config.js";
import { createLogger } from "../../services/common/logger.js";
import { startFacade } from "../../facade/server.js";
import { startRouter, type RunningRouter } from "../../services/router/server.js";

/** A whole all-in-one mesh on loopback ports chosen by the OS, as `iir all` runs it. */
export interface TestMesh {
  readonly config: Config;
  /** Base URL for OpenAI SDKs, e.g. http://127.0.0.1:PORT/v1. */
  readonly facadeUrl: string;
  /** Base URL for gRPC/Connect clients of the router, e.g. http://127.0.0.1:PORT. */
  readonly routerUrl: string;
  readonly routerPort: number;
  readonly dbPath: string;
  readonly router: RunningRouter;
  close(): Promise<void>;
}

/** Starts router and facade in this process with a fresh SQLite file; `env` adds configuration. */
export async function startMesh(env: Record<string, string> = {}): Promise<TestMesh> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "iir-mesh-"));
  const dbPath = path.join(directory, "iir.db");
  const config = loadConfig({
    IIR_HOST: "127.0.0.1",
    IIR_FACADE_PORT: "0",
    IIR_ROUTER_PORT: "0",
    SQLITE_DB_PATH: dbPath,
    LOG_LEVEL: "silent",
    IIR_REGISTRY_REFRESH_MS: "50",
    HEARTBEAT_INTERVAL: "1",
    ...env,
  });
  const logger = createLogger({ level: config.logLevel, name: "test" });
  const router = await startRouter(config, logger);
  const facade = await startFacade({ config, transport: createRouterTransport(router.routes), logger });
  return {
    config,
    facadeUrl: `http://127.0.0.1:${facade.port}/v1`,
    routerUrl: `http://127.0.0.1:${router.port}`,
    routerPort: router.port,
    dbPath,
    router,
    async close() {
      await facade.close(1000);
      await router.close(1000);
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
