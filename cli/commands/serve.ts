import { createRouterTransport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Config } from "../../services/common/config.js";
import { createLogger, type Logger } from "../../services/common/logger.js";
import { startFacade } from "../../facade/server.js";
import { startRouter } from "../../services/router/server.js";

/** Something that runs until told to stop. */
interface Stoppable {
  close(graceMs: number): Promise<void>;
}

/** `iir all`: router on its port for gRPC clients and agents, facade calling it in-process. */
export async function serveAll(config: Config): Promise<void> {
  const logger = createLogger({ level: config.logLevel, name: "iir" });
  const router = await startRouter(config, logger);
  const stoppables: Stoppable[] = [router];
  try {
    const facade = await startFacade({ config, transport: createRouterTransport(router.routes), logger });
    stoppables.unshift(facade);
    logger.info("iir started", { facade: `http://${config.host}:${facade.port}`, router: `${config.host}:${router.port}`, registry: config.sqliteDbPath });
  } catch (error) {
    await router.close(0);
    throw error;
  }
  stopOnSignal(stoppables, config.shutdownGraceMs, logger);
}

/** `iir router`: the router alone, for split and scaled deployments. */
export async function serveRouter(config: Config): Promise<void> {
  const logger = createLogger({ level: config.logLevel, name: "router" });
  const router = await startRouter(config, logger);
  logger.info("router started", { router: `${config.host}:${router.port}`, registry: config.sqliteDbPath });
  stopOnSignal([router], config.shutdownGraceMs, logger);
}

/** `iir facade`: the facade alone, calling a router over h2c gRPC. */
export async function serveFacade(config: Config): Promise<void> {
  const logger = createLogger({ level: config.logLevel, name: "facade" });
  const transport = createGrpcTransport({ baseUrl: config.routerUrl });
  const facade = await startFacade({ config, transport, logger });
  logger.info("facade started", { facade: `http://${config.host}:${facade.port}`, router: config.routerUrl });
  stopOnSignal([facade], config.shutdownGraceMs, logger);
}

/** SIGTERM/SIGINT: stop accepting, finish in-flight work within the grace period, exit 0. */
function stopOnSignal(stoppables: readonly Stoppable[], graceMs: number, logger: Logger): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down", { signal, graceMs });
    const timer = setTimeout(() => process.exit(1), graceMs + 5000);
    timer.unref();
    for (const stoppable of stoppables) await stoppable.close(graceMs);
    logger.info("stopped");
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
}
