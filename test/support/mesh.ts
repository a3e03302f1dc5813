import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInProcessTransport } from "../../services/common/in-process-transport.js";
import { loadConfig, type Config } from "../../services/common/config.js";
import { createLogger } from "../../services/common/logger.js";
import { createTelemetry, type Telemetry } from "../../services/common/telemetry/telemetry.js";
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import { startFacade } from "../../facade/server.js";
import { startRouter, type RunningRouter } from "../../services/router/server.js";
import { testAdminToken } from "./admin.js";

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
  /** The process telemetry router and facade share, as in `iir all`. */
  readonly telemetry: Telemetry;
  /** The facade's Prometheus endpoint, http://127.0.0.1:PORT/metrics. */
  readonly metricsUrl: string;
  close(): Promise<void>;
}

/** What a test may put in the mesh besides configuration. */
export interface TestMeshOptions {
  /** Receives every span (tracing is on only with one). */
  readonly spanExporter?: SpanExporter;
  /** Receives every log line (LOG_LEVEL in `env` decides which). */
  readonly writeLog?: (line: string) => void;
}

/** Starts router and facade in this process with a fresh SQLite file; `env` adds configuration. */
export async function startMesh(env: Record<string, string> = {}, options: TestMeshOptions = {}): Promise<TestMesh> {
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
    // Tests of other features must see every request reach a backend; cache tests turn it on.
    CACHE_TTL: "0",
    // Nor may a provider's model list add requests to a fake upstream; provider-models tests turn it on.
    IIR_PROVIDER_MODELS_REFRESH_MS: "0",
    IIR_ADMIN_TOKEN: testAdminToken,
    ...env,
  });
  const logger = createLogger({ level: config.logLevel, name: "test", write: options.writeLog });
  const telemetry = await createTelemetry({ serviceName: "iir-test", spanExporter: options.spanExporter });
  const router = await startRouter(config, logger, telemetry);
  const facade = await startFacade({ config, transport: createInProcessTransport(router.routes, { interceptors: router.interceptors }), logger, telemetry });
  return {
    config,
    facadeUrl: `http://127.0.0.1:${facade.port}/v1`,
    routerUrl: `http://127.0.0.1:${router.port}`,
    routerPort: router.port,
    dbPath,
    router,
    telemetry,
    metricsUrl: `http://127.0.0.1:${facade.port}/metrics`,
    async close() {
      await facade.close(1000);
      await router.close(1000);
      await telemetry.shutdown();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
