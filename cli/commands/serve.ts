import { createInProcessTransport } from "../../services/common/in-process-transport.js";
import { createMeshTransport } from "../../services/common/mesh-transport.js";
import { redactUrl } from "../../services/common/redact-url.js";
import { isLoopbackHost } from "../../services/common/peer.js";
import type { Config } from "../../services/common/config.js";
import { openServiceLogger, type Logger } from "../../services/common/logger.js";
import { createTelemetry, type Telemetry } from "../../services/common/telemetry/telemetry.js";
import { startFacade } from "../../facade/server.js";
import { startRouter } from "../../services/router/server.js";
import { describeRegistry } from "../../services/router/registry/database.js";

/** Something that runs until told to stop. */
interface Stoppable {
  close(graceMs: number): Promise<void>;
}

/**
 * `iir all`: router on its port for gRPC clients and agents, facade calling it in-process, and a
 * local agent that joins the router like any other agent would.
 */
export async function serveAll(config: Config): Promise<void> {
  const { logger, telemetry, closeProcess } = await openProcess(config, "iir");
  // Stopped in this order: stop taking requests, then let the agent finish, then the router.
  const stoppables: Stoppable[] = [];
  try {
    const router = await startRouter(config, logger, telemetry);
    stoppables.unshift(router);
    if (config.agent.enabled) {
      const { startAgent } = await loadAgent();
      const agent = await startAgent(config, logger, localUrl(config, router.port), telemetry);
      stoppables.unshift(agent);
      await agent.membership.registered;
    }
    const transport = createInProcessTransport(router.routes, { interceptors: router.interceptors });
    const facade = await startFacade({ config, transport, logger, telemetry });
    stoppables.unshift(facade);
    logger.info("iir started", { facade: `http://${config.host}:${facade.port}`, router: `${config.routerHost}:${router.port}`, registry: describeRegistry(config) });
  } catch (error) {
    for (const stoppable of stoppables) await stoppable.close(0);
    await closeProcess();
    throw error;
  }
  stopOnSignal(stoppables, config.shutdownGraceMs, logger, closeProcess);
}

/** `iir agent`: a local model joining a router, on this machine or another. */
export async function serveAgent(config: Config): Promise<void> {
  const { logger, telemetry, closeProcess } = await openProcess(config, "agent");
  const { startAgent } = await loadAgent();
  const agent = await startAgent(config, logger, config.agent.routerUrl, telemetry).catch(async (error: unknown) => {
    await closeProcess();
    throw error;
  });
  logger.info("agent started", { agent: agent.id, model: agent.modelId, address: redactUrl(agent.address, "agent"), router: redactUrl(config.agent.routerUrl, "router") });
  if (config.agentToken !== undefined) warnIfPlainRemote(config.agent.routerUrl, "the agent sends its agent token to the router", logger);
  stopOnSignal([agent], config.shutdownGraceMs, logger, closeProcess);
}

/** `iir router`: the router alone, for split and scaled deployments. */
export async function serveRouter(config: Config): Promise<void> {
  const { logger, telemetry, closeProcess } = await openProcess(config, "router");
  const router = await startRouter(config, logger, telemetry).catch(async (error: unknown) => {
    await closeProcess();
    throw error;
  });
  const metrics = router.metricsPort === undefined ? undefined : `http://${config.routerHost}:${router.metricsPort}/metrics`;
  logger.info("router started", { router: `${config.routerHost}:${router.port}`, registry: describeRegistry(config), metrics });
  stopOnSignal([router], config.shutdownGraceMs, logger, closeProcess);
}

/** `iir facade`: the facade alone, calling a router over gRPC (h2c, or TLS for an https:// router). */
export async function serveFacade(config: Config): Promise<void> {
  const { logger, telemetry, closeProcess } = await openProcess(config, "facade");
  const transport = createMeshTransport(config.routerUrl, { tls: config.tls, keepaliveMs: config.routerKeepaliveMs });
  const facade = await startFacade({ config, transport, logger, telemetry }).catch(async (error: unknown) => {
    await closeProcess();
    throw error;
  });
  logger.info("facade started", { facade: `http://${config.host}:${facade.port}`, router: redactUrl(config.routerUrl, "router") });
  warnIfPlainRemote(config.routerUrl, "the facade passes its clients' API keys to the router", logger);
  stopOnSignal([facade], config.shutdownGraceMs, logger, closeProcess);
}

/**
 * A process's logger (stdout, and LOG_FILE) and its one MeterProvider and tracer provider, shared by
 * every service it runs; `closeProcess` exports what is left and flushes the log file, last.
 */
async function openProcess(config: Config, name: string): Promise<{ logger: Logger; telemetry: Telemetry; closeProcess: () => Promise<void> }> {
  const log = await openServiceLogger(config, name);
  const telemetry = await createTelemetry({ serviceName: name === "iir" ? "iir" : `iir-${name}`, otlpEndpoint: config.otlpEndpoint });
  return {
    logger: log.logger,
    telemetry,
    async closeProcess() {
      await telemetry.shutdown();
      await log.close();
    },
  };
}

/** SIGTERM/SIGINT: stop accepting, finish in-flight work within the grace period, exit 0. */
function stopOnSignal(stoppables: readonly Stoppable[], graceMs: number, logger: Logger, closeProcess: () => Promise<void>): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down", { signal, graceMs });
    const timer = setTimeout(() => process.exit(1), graceMs + 5000);
    timer.unref();
    for (const stoppable of stoppables) await stoppable.close(graceMs);
    logger.info("stopped");
    await closeProcess();
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
}

/** The agent and node-llama-cpp (~35 MB once imported) load only in processes that run an agent. */
function loadAgent(): Promise<typeof import("../../services/agent/server.js")> {
  return import("../../services/agent/server.js");
}

/** Says loudly when secrets would cross a network unencrypted: plain http:// to another machine. */
function warnIfPlainRemote(url: string, what: string, logger: Logger): void {
  const parsed = new URL(url);
  if (parsed.protocol !== "http:" || isLoopbackHost(parsed.hostname.replace(/^\[|\]$/g, ""))) return;
  logger.warn(`${what} unencrypted: use an https:// address with IIR_TLS_CERT, IIR_TLS_KEY and IIR_TLS_CA`, { router: redactUrl(url, "router") });
}

/** How this process reaches its own router: loopback when it listens on every interface, over TLS when it serves TLS. */
function localUrl(config: Config, port: number): string {
  const host = ["0.0.0.0", "::", ""].includes(config.routerHost) ? "127.0.0.1" : config.routerHost;
  const scheme = config.tls === undefined ? "http" : "https";
  return `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}`;
}
