import http from "node:http";
import type net from "node:net";
import { createClient, type Transport } from "@connectrpc/connect";
import { HealthCheckResponse_ServingStatus, Health } from "../gen/grpc/health/v1/health_pb.js";
import { InferenceService } from "../gen/iir/inference/v1/inference_pb.js";
import type { Config } from "../services/common/config.js";
import type { Logger } from "../services/common/logger.js";
import { createTelemetry, type Telemetry } from "../services/common/telemetry/telemetry.js";
import { createAccessGuards } from "./access-guards.js";
import { createFacadeHandler } from "./app.js";
import { createGrpcRouterChat } from "./grpc-router-chat.js";
import { createRouterChat } from "./router-chat.js";
import { createFacadeMetrics } from "./telemetry/facade-metrics.js";
import { createRequestObserver } from "./telemetry/request-observer.js";

/** A listening facade and how to stop it. */
export interface RunningFacade {
  readonly port: number;
  close(graceMs: number): Promise<void>;
}

/**
 * Serves the OpenAI REST facade on `config.facadePort`, calling the router through `transport`;
 * with `routerUrl` (a router in another process) Chat and ChatStream go over the facade's own lean
 * gRPC client instead (facade/grpc-router-chat.ts). Metrics and traces go to the process's
 * `telemetry`; without one the facade builds and closes its own.
 */
export async function startFacade(options: { config: Config; transport: Transport; routerUrl?: string; logger: Logger; telemetry?: Telemetry }): Promise<RunningFacade> {
  const { config, transport, logger } = options;
  const grpcChat = options.routerUrl === undefined ? undefined : createGrpcRouterChat(options.routerUrl, { keepaliveMs: config.routerKeepaliveMs });
  const telemetry = options.telemetry ?? (await createTelemetry({ serviceName: "iir-facade", otlpEndpoint: config.otlpEndpoint }));
  const health = createClient(Health, transport);
  const guards = await createAccessGuards({ config, logger });
  if (guards.isOpen()) {
    logger.warn("the facade is open to anyone: no API keys exist and IIR_REQUIRE_AUTH is not set; create one with `iir keys create --name NAME`");
  }
  const handler = createFacadeHandler({
    auth: guards.auth,
    rateLimiter: guards.rateLimiter,
    inference: createClient(InferenceService, transport),
    router: grpcChat ?? createRouterChat(transport),
    maxBodyBytes: config.maxBodyBytes,
    observer: createRequestObserver({ metrics: createFacadeMetrics(telemetry.metrics.prebound("iir.facade")), tracing: telemetry.tracing }),
    handleMetrics: (request, response) => telemetry.metrics.handleScrape(request, response),
    logPrompts: config.logPrompts,
    checkReady: async () => {
      try {
        const answer = await health.check({ service: "" }, { timeoutMs: 2000 });
        return answer.status === HealthCheckResponse_ServingStatus.SERVING;
      } catch {
        return false;
      }
    },
    log: (entry) => logger.info("request", entry as unknown as Record<string, unknown>),
    logError: (requestId, error) =>
      logger.error("request failed", { requestId, error: error instanceof Error ? error.message : String(error), code: (error as { code?: unknown }).code }),
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
      grpcChat?.close();
      await guards.close();
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
