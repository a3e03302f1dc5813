import { createRouterTransport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Config } from "../../services/common/config.js";
import { createLogger, type Logger } from "../../services/common/logger.js";
import { startFacade } from "../../facade/server.js";
import { startAgent } from "../../services/agent/server.js";
import { startRouter } from "../../services/router/server.js";

/** Something that runs until told to stop. */
interface Stoppable {
  close(graceMs: number): Promise<void>;
}

/**
 * `iir all`: router on its port for gRPC clients and agents, facade calling it in-process, and a
 * local agent that joins the router like any other agent would.
 */
export async function serveAll(config: Config): Promise<void> {
  const logger = createLogger({ level: config.logLevel, name: "iir" });
  const router = await startRouter(config, logger);
  // Stopped in this order: stop taking requests, then let the agent finish, then the router.
  const stoppables: Stoppable[] = [router];
  try {
    if (config.agent.enabled) {
      const agent = await startAgent(config, logger, `http://127.0.0.1:${router.port}`);
      stoppables.unshift(agent);
      await agent.membership.registered;
    }
    const facade = await startFacade({ config, transport: createRouterTransport(router.routes), logger });
    stoppables.unshift(facade);
    logger.info("iir started", { facade: `http://${config.host}:${facade.port}`, router: `${config.host}:${router.port}`, registry: config.sqliteDbPath });
  } catch (error) {
    for (const stoppable of stoppables) await stoppable.close(0);
    throw error;
  }
  stopOnSignal(stoppables, config.shutdownGraceMs, logger);
}

/** `iir agent`: a local model joining a router, on this machine or another. */
export async function serveAgent(config: Config): Promise<void> {
  const logger = createLogger({ level: config.logLevel, name: "agent" });
  const agent = await startAgent(config, logger);
  logger.info("agent started", { agent: agent.id, model: agent.modelId, address: agent.address, router: config.agent.routerUrl });
  stopOnSignal([agent], config.shutdownGraceMs, logger);
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
