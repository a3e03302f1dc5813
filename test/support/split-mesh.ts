import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { startFacade, type RunningFacade } from "../../facade/server.js";
import { loadConfig } from "../../services/common/config.js";
import { createLogger } from "../../services/common/logger.js";
import { createTelemetry, type Telemetry } from "../../services/common/telemetry/telemetry.js";
import { startRouter, type RunningRouter } from "../../services/router/server.js";

/** A router and a facade with telemetry of their own, as `iir router` and `iir facade` run. */
export async function startSplitMesh(upstreamUrl: string): Promise<{ router: RunningRouter; facade: RunningFacade; close(): Promise<void> }> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "iir-split-"));
  const config = loadConfig({
    IIR_HOST: "127.0.0.1",
    IIR_FACADE_PORT: "0",
    IIR_ROUTER_PORT: "0",
    IIR_ROUTER_METRICS_PORT: "0",
    SQLITE_DB_PATH: path.join(directory, "iir.db"),
    LOG_LEVEL: "silent",
    CACHE_TTL: "0",
    OPENAI_BASE_URL: upstreamUrl,
    EXTERNAL_OPENAI_KEY: "sk-test",
  });
  const logger = createLogger({ level: "silent", name: "test" });
  const telemetries: Telemetry[] = [await createTelemetry({ serviceName: "iir-router" }), await createTelemetry({ serviceName: "iir-facade" })];
  const router = await startRouter(config, logger, telemetries[0]);
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${router.port}` });
  const facade = await startFacade({ config, transport, routerUrl: `http://127.0.0.1:${router.port}`, logger, telemetry: telemetries[1] });
  return {
    router,
    facade,
    async close() {
      await facade.close(1000);
      await router.close(1000);
      for (const telemetry of telemetries) await telemetry.shutdown();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
