import type { ConnectRouter } from "@connectrpc/connect";
import type { GenFile } from "@bufbuild/protobuf/codegenv2";
import type { Kysely } from "kysely";
import { HeartbeatService, file_iir_heartbeat_v1_heartbeat } from "../../gen/iir/heartbeat/v1/heartbeat_pb.js";
import { InferenceService, file_iir_inference_v1_inference } from "../../gen/iir/inference/v1/inference_pb.js";
import { RegistryService, file_iir_registry_v1_registry } from "../../gen/iir/registry/v1/registry_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ServerReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1Alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { Config } from "../common/config.js";
import { listenConnect, type ConnectServer } from "../common/connect-server.js";
import type { Logger } from "../common/logger.js";
import type { ChatAdapter } from "./adapters/adapter.js";
import { createAgentAdapter } from "./adapters/agent/agent-adapter.js";
import { createOpenAICompatibleAdapter } from "./adapters/openai-compatible/openai-compatible-adapter.js";
import { createAgentDirectory, type AgentDirectory } from "./agents/agent-directory.js";
import { createAdminTokenCheck } from "./admin-token.js";
import { createAgentTokenCheck } from "./agent-token.js";
import { createHealthService } from "./grpc-health.js";
import { createReflectionServices } from "./grpc-reflection.js";
import { createHeartbeatService } from "./heartbeat-service.js";
import { createMemoryCache } from "./cache/memory-cache.js";
import { createRedisCache } from "./cache/redis-cache.js";
import { createTieredCache, type ResponseCache } from "./cache/response-cache.js";
import { createInferenceService } from "./inference-service.js";
import { createRouterObservation } from "./telemetry/router-observation.js";
import { createTelemetry, type Telemetry } from "../common/telemetry/telemetry.js";
import { listenMetrics, type MetricsServer } from "../common/telemetry/metrics-server.js";
import { openDatabase } from "./registry/database.js";
import { migrateToLatest } from "./registry/migrations/index.js";
import { createModelCatalog, type ModelCatalog } from "./registry/model-catalog.js";
import type { Database } from "./registry/schema.js";
import { createRegistryService } from "./registry-service.js";
import { agentProvider, createRouteResolver } from "./routing/resolve-route.js";

/** The contract files this router serves, for server reflection. */
export const routerFiles: readonly GenFile[] = [
  file_iir_inference_v1_inference,
  file_iir_registry_v1_registry,
  file_iir_heartbeat_v1_heartbeat,
];

/** Everything the router's services are built from; tests inject their own. */
export interface RouterDeps {
  readonly config: Config;
  readonly db: Kysely<Database>;
  readonly catalog: ModelCatalog;
  readonly adapters: ReadonlyMap<string, ChatAdapter>;
  readonly health: ReturnType<typeof createHealthService>;
  readonly agents: AgentDirectory;
  /** The response cache; absent: none. */
  readonly cache?: ResponseCache;
  /** The process's metrics and traces; absent: none are recorded. */
  readonly telemetry?: Telemetry;
}

/** Registers every service of the router on a Connect router. */
export function createRouterRoutes(deps: RouterDeps): (router: ConnectRouter) => void {
  const heartbeatIntervalSeconds = Math.max(0.01, deps.config.heartbeatIntervalMs / 1000);
  const checkAgentToken = createAgentTokenCheck(deps.config.agentToken);
  const resolver = createRouteResolver({
    findModel: (name) => deps.catalog.get(name),
    providers: deps.config.providers,
    adapters: deps.adapters,
    secret: deps.config.secret,
    agents: deps.agents,
  });
  const observation = createRouterObservation({
    telemetry: deps.telemetry,
    agents: deps.agents,
    isKnownModel: (name) => deps.catalog.get(name) !== undefined || deps.agents.knows(name),
  });
  const inference = observation.observe(createInferenceService({
    resolver,
    listModels: () => deps.catalog.list(),
    liveAgentModels: () => deps.agents.liveModels(),
    cache: deps.cache === undefined ? undefined : { store: deps.cache, ttlSeconds: deps.config.cacheTtlSeconds },
    instrument: observation.instrument,
  }));
  const registry = createRegistryService({
    db: deps.db,
    catalog: deps.catalog,
    heartbeatIntervalSeconds: Math.ceil(heartbeatIntervalSeconds),
    staleAfterMs: deps.config.agentStaleAfterMs,
    agents: deps.agents,
    checkAgentToken,
    checkAdminToken: createAdminTokenCheck(deps.config.adminToken),
  });
  const heartbeat = createHeartbeatService({ db: deps.db, heartbeatIntervalSeconds: Math.ceil(heartbeatIntervalSeconds), agents: deps.agents, checkAgentToken });
  const reflection = createReflectionServices([...routerFiles]);
  return (router) => {
    router.service(InferenceService, inference);
    router.service(RegistryService, registry);
    router.service(HeartbeatService, heartbeat);
    router.service(Health, deps.health.service);
    router.service(ServerReflectionV1, reflection.v1);
    router.service(ServerReflectionV1Alpha, reflection.v1alpha);
  };
}

/** A started router: its routes (for an in-process facade), its port, and how to stop it. */
export interface RunningRouter {
  readonly routes: (router: ConnectRouter) => void;
  readonly agents: AgentDirectory;
  readonly port: number;
  /** The metrics port (IIR_ROUTER_METRICS_PORT); undefined when it is off. */
  readonly metricsPort: number | undefined;
  close(graceMs: number): Promise<void>;
}

/**
 * Opens the registry, migrates it, and serves the router on `config.routerPort` (and its metrics on
 * `config.routerMetricsPort` when set). Without `telemetry` the router builds and closes its own.
 */
export async function startRouter(config: Config, logger: Logger, telemetry?: Telemetry): Promise<RunningRouter> {
  const db = openDatabase(config.sqliteDbPath);
  const ownsTelemetry = telemetry === undefined;
  const processTelemetry = telemetry ?? (await createTelemetry({ serviceName: "iir-router", otlpEndpoint: config.otlpEndpoint }));
  let server: ConnectServer | undefined;
  let metricsServer: MetricsServer | undefined;
  try {
    const migrated = await migrateToLatest(db);
    if (migrated.length > 0) logger.info("registry migrated", { migrations: migrated });
    const catalog = createModelCatalog(db, { refreshMs: config.registryRefreshMs });
    await catalog.refresh();
    const adapters = new Map<string, ChatAdapter>([
      ["openai-compatible", createOpenAICompatibleAdapter({ timeoutMs: config.upstreamTimeoutMs })],
      [agentProvider, createAgentAdapter({ timeoutMs: config.upstreamTimeoutMs })],
    ]);
    const health = createHealthService();
    const agents = createAgentDirectory({ staleAfterMs: config.agentStaleAfterMs });
    const cache = createResponseCache(config, logger);
    const routes = createRouterRoutes({ config, db, catalog, adapters, health, agents, cache, telemetry: processTelemetry });
    // The facade's calls, and every gRPC client's chats, take the direct path.
    const fastMethods = [InferenceService.method.chat, InferenceService.method.chatStream];
    server = await listenConnect({ routes, host: config.host, port: config.routerPort, fastMethods, readMaxBytes: config.maxBodyBytes });
    if (config.routerMetricsPort !== undefined) {
      metricsServer = await listenMetrics({ metrics: processTelemetry.metrics, host: config.host, port: config.routerMetricsPort });
    }
    const metricsPort = metricsServer?.port;
    const running = server;
    return {
      routes,
      agents,
      port: running.port,
      metricsPort,
      async close(graceMs) {
        health.shutdown();
        await running.close(graceMs);
        await metricsServer?.close();
        catalog.close();
        await cache?.close();
        await db.destroy();
        if (ownsTelemetry) await processTelemetry.shutdown();
      },
    };
  } catch (error) {
    await server?.close(0);
    await metricsServer?.close();
    await db.destroy();
    if (ownsTelemetry) await processTelemetry.shutdown();
    throw error;
  }
}

/** An in-memory LRU, in front of Redis when REDIS_URL is set; none when CACHE_TTL is 0. */
function createResponseCache(config: Config, logger: Logger): ResponseCache | undefined {
  if (config.cacheTtlSeconds <= 0) return undefined;
  const near = createMemoryCache({ maxEntries: config.cacheMaxEntries });
  if (config.redisUrl === undefined) return near;
  return createTieredCache(near, createRedisCache({ url: config.redisUrl, timeoutMs: config.cacheTimeoutMs, keyPrefix: config.redisKeyPrefix, logger }));
}
