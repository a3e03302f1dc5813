import http from "node:http";
import type net from "node:net";
import { createClient, type Transport } from "@connectrpc/connect";
import { HealthCheckResponse_ServingStatus, Health } from "../gen/grpc/health/v1/health_pb.js";
import { InferenceService } from "../gen/iir/inference/v1/inference_pb.js";
import { RegistryService } from "../gen/iir/registry/v1/registry_pb.js";
import type { Config } from "../services/common/config.js";
import type { Logger } from "../services/common/logger.js";
import { createTelemetry, type Telemetry } from "../services/common/telemetry/telemetry.js";
import { createFacadeHandler } from "./app.js";
import { redactAddresses, redactUrlCredentialsIn } from "../services/common/redact-url.js";
import { createRouterChat } from "./router-chat.js";
import { createFacadeMetrics } from "./telemetry/facade-metrics.js";
import { createRequestObserver } from "./telemetry/request-observer.js";

/** A listening facade and how to stop it. */
export interface RunningFacade {
  readonly port: number;
  close(graceMs: number): Promise<void>;
}

/**
 * Serves the OpenAI REST facade on `config.facadePort`, calling the router through `transport`
 * (in-process in `iir all`, Connect's gRPC transport for a router in another process). API keys
 * and rate limits are the router's: the facade passes the caller's bearer on. Metrics and traces
 * go to the process's `telemetry`; without one the facade builds and closes its own.
 */
export async function startFacade(options: { config: Config; transport: Transport; logger: Logger; telemetry?: Telemetry }): Promise<RunningFacade> {
  const { config, transport, logger } = options;
  const telemetry = options.telemetry ?? (await createTelemetry({ serviceName: "iir-facade", otlpEndpoint: config.otlpEndpoint }));
  const health = createClient(Health, transport);
  const handler = createFacadeHandler({
    inference: createClient(InferenceService, transport),
    registry: createClient(RegistryService, transport),
    router: createRouterChat(transport),
    maxBodyBytes: config.maxBodyBytes,
    observer: createRequestObserver({ metrics: createFacadeMetrics(telemetry.metrics.prebound("iir.facade")), tracing: telemetry.tracing }),
    handleMetrics: (request, response) => telemetry.metrics.handleScrape(request, response),
    logPrompts: config.logPrompts,
    corsOrigins: config.corsOrigins,
    checkReady: async () => {
      try {
        const answer = await health.check({ service: "" }, { timeoutMs: 2000 });
        return answer.status === HealthCheckResponse_ServingStatus.SERVING;
      } catch {
        return false;
      }
    },
    log: (entry) => logger.info("request", entry as unknown as Record<string, unknown>),
    // The failure's own words help an operator; credentials and addresses in them never reach the log.
    logError: (requestId, error) =>
      logger.error("request failed", {
        requestId,
        error: redactAddresses(redactUrlCredentialsIn(error instanceof Error ? error.message : String(error))),
        code: (error as { code?: unknown }).code,
      }),
  });
  const server = http.createServer({ keepAliveTimeout: 65_000 }, handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.facadePort, config.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async (graceMs) => {
      await closeHttpServer(server, graceMs);
      if (options.telemetry === undefined) await telemetry.shutdown();
    },
  };
}

/** Stops accepting, lets in-flight requests finish for up to graceMs, then cuts what is left. */
export async function closeHttpServer(server: http.Server, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const idle = setInterval(() => server.closeIdleConnections(), 20);
  const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
  await closed;
  clearInterval(idle);
  clearTimeout(deadline);
}
