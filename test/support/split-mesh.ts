import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Transport } from "@connectrpc/connect";
import { createMeshTransport } from "../../services/common/mesh-transport.js";
import { startFacade, type RunningFacade } from "../../facade/server.js";
import { loadConfig } from "../../services/common/config.js";
import { createLogger } from "../../services/common/logger.js";
import { createTelemetry, type Telemetry } from "../../services/common/telemetry/telemetry.js";
import { startRouter, type RunningRouter } from "../../services/router/server.js";
import { testAdminToken } from "./admin.js";

/** A router and a facade with telemetry of their own, as `iir router` and `iir facade` run; `env` adds configuration. */
export async function startSplitMesh(
  upstreamUrl: string,
  env: Record<string, string> = {},
): Promise<{ router: RunningRouter; facade: RunningFacade; transport: Transport; close(): Promise<void> }> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "iir-split-"));
  const config = loadConfig({
    IIR_HOST: "127.0.0.1",
    IIR_FACADE_PORT: "0",
    IIR_ROUTER_PORT: "0",
    IIR_ROUTER_METRICS_PORT: "0",
    SQLITE_DB_PATH: path.join(directory, "iir.db"),
    LOG_LEVEL: "silent",
    CACHE_TTL: "0",
    // No provider model-list calls to the fake upstreams unless a test asks for them.
    IIR_PROVIDER_MODELS_REFRESH_MS: "0",
    OPENAI_BASE_URL: upstreamUrl,
    EXTERNAL_OPENAI_KEY: "sk-test",
    IIR_ADMIN_TOKEN: testAdminToken,
    ...env,
  });
  const logger = createLogger({ level: "silent", name: "test" });
  const telemetries: Telemetry[] = [await createTelemetry({ serviceName: "iir-router" }), await createTelemetry({ serviceName: "iir-facade" })];
  const router = await startRouter(config, logger, telemetries[0]);
  const transport = createMeshTransport(`http://127.0.0.1:${router.port}`, { keepaliveMs: config.routerKeepaliveMs });
  const facade = await startFacade({ config, transport, logger, telemetry: telemetries[1] });
  return {
    router,
    facade,
    transport,
    async close() {
      await facade.close(1000);
      await router.close(1000);
      for (const telemetry of telemetries) await telemetry.shutdown();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
