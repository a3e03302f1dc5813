import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
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
import { createAnthropicAdapter } from "./adapters/anthropic/anthropic-adapter.js";
import { createOpenAICompatibleAdapter } from "./adapters/openai-compatible/openai-compatible-adapter.js";
import { createGoogleAdapter } from "./adapters/google/google-adapter.js";
import { createAzureOpenAIAdapter } from "./adapters/azure-openai/azure-openai-adapter.js";
import { createUpstreamClient, type UpstreamClient, type UpstreamClientOptions } from "./adapters/upstream/upstream-client.js";
import { createAgentDirectory, type AgentDirectory } from "./agents/agent-directory.js";
import { createAgentSync, type AgentSync } from "./agents/agent-sync.js";
import { createAgentModels } from "./agents/agent-models.js";
import { createAdminCheck, createAgentTokenCheck } from "../common/mesh-tokens.js";
import { createApiKeyPolicy } from "./auth/api-key-policy.js";
import { createApiKeyStore, type ApiKeyStore } from "./auth/api-key-store.js";
import { createMemoryRateLimitStore } from "./rate-limit/memory-rate-limit-store.js";
import { createRedisRateLimitStore } from "./rate-limit/redis-rate-limit-store.js";
import { createRedisConcurrencyLimiter } from "./rate-limit/redis-concurrency-limiter.js";
import { createConcurrencyLimiter, type ConcurrencyLimiter } from "./rate-limit/concurrency-limiter.js";
import type { RateLimitStore } from "./rate-limit/rate-limit-store.js";
import { isLoopbackHost } from "../common/peer.js";
import { createMeshTransport } from "../common/mesh-transport.js";
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
import { openRegistry } from "./registry/database.js";
import { migrateToLatest } from "./registry/migrations/index.js";
import { createModelCatalog, type ModelCatalog } from "./registry/model-catalog.js";
import type { Database } from "./registry/schema.js";
import { createRegistryService } from "./registry-service.js";
import { agentProvider, createRouteResolver, isProviderName } from "./routing/resolve-route.js";
import { createProviderModels, type ProviderModels } from "./routing/provider-models.js";
import { BreakerState, createCircuitBreakers, type BreakerTransition } from "./routing/circuit-breaker.js";
import { createSharedBreakers, type SharedBreakers } from "./routing/shared-breakers.js";
import { createRetryBudget, createRetryBudgetReport } from "./routing/retry-budget.js";
import { createBackendStats, type BackendStats } from "./routing/backend-stats.js";
import { autoModelName, createAutoRouter } from "./routing/auto-router.js";
import { createPrefixAffinity } from "./routing/prefix-affinity.js";

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
  readonly logger?: Logger;
  /** The API keys in memory, reloaded after the registry service changes them. */
  readonly keys?: ApiKeyStore;
  /** What configured providers list, for ListModels; absent: only registry and agent models. */
  readonly providerModels?: ProviderModels;
  /** Breaker state shared with the other replicas through Redis (REDIS_URL); absent: this router's own. */
  readonly breakerShare?: SharedBreakers;
  /** Time to first token, tokens/s and in-flight counts per backend; absent: the routes keep their own. */
  readonly backendStats?: BackendStats;
}

/**
 * Why an agent may not serve a model name: names under a provider's prefix are that provider's,
 * and a registry entry's name is the registry's (unless the entry points at agents of that name).
 */
function refuseAgentModel(deps: Pick<RouterDeps, "config" | "catalog">, model: string): string | undefined {
  if (isProviderName(deps.config.providers, model)) return `names under '${model.slice(0, model.indexOf("/") + 1)}' belong to that provider`;
  const entry = deps.catalog.get(model);
  if (entry !== undefined && !(entry.provider === agentProvider && (entry.upstreamModel || entry.name) === model)) {
    return `the registry has an entry of that name (provider '${entry.provider}')`;
  }
  return undefined;
}

/** Registers every service of the router on a Connect router. */
export function createRouterRoutes(deps: RouterDeps): (router: ConnectRouter) => void {
  const heartbeatIntervalSeconds = Math.max(0.01, deps.config.heartbeatIntervalMs / 1000);
  const checkAgentToken = createAgentTokenCheck(deps.config.agentToken, "joining this router");
  // Fed by every attempt (the resolver wraps each candidate), read by the deployment strategies.
  const backendStats = deps.backendStats ?? createBackendStats();
  const resolver = createRouteResolver({
    findModel: (name) => deps.catalog.get(name),
    providers: deps.config.providers,
    adapters: deps.adapters,
    secret: deps.config.secret,
    agents: deps.agents,
    stats: backendStats,
  });
  // Decorators: a conversation's next turn to the agent holding its prefix, then `auto` routers choosing the model.
  const routed = createAutoRouter({
    inner: createPrefixAffinity({ inner: resolver, agents: deps.agents, ...deps.config.affinity }),
    findModel: (name) => deps.catalog.get(name),
    listModels: () => deps.catalog.list(),
    liveAgentModels: () => deps.agents.liveModels().keys(),
    stats: backendStats,
    weights: deps.config.autoRouting,
  });
  // In this router's memory (the hot path); openings, closings and probes shared through Redis when it is there.
  const breakers = createCircuitBreakers({ settings: deps.config.breaker, share: deps.breakerShare, onTransition: (transition) => logBreakerTransition(deps.logger, transition) });
  deps.breakerShare?.connect(breakers);
  const observation = createRouterObservation({
    telemetry: deps.telemetry,
    agents: deps.agents,
    breakerStates: () => breakers.states(),
    isKnownModel: (name) => deps.catalog.get(name) !== undefined || deps.agents.knows(name) || name === autoModelName,
  });
  const inference = observation.observe(createInferenceService({
    resolver: routed,
    listModels: () => deps.catalog.list(),
    liveAgentModels: () => deps.agents.liveModels(),
    providerModels: () => deps.providerModels?.list() ?? [],
    cache:
      deps.cache === undefined
        ? undefined
        : { store: deps.cache, ttlSeconds: deps.config.cacheTtlSeconds, scope: deps.config.cacheScope, findModel: (name) => deps.catalog.get(name) },
    instrument: observation.instrument,
    breakers,
    timeouts: deps.config.timeouts,
    retryBudget: createRetryBudget(deps.config.retryBudget),
    onRetryBudgetExhausted: createRetryBudgetReport({ logger: deps.logger, meter: deps.telemetry?.metrics.meter("iir.router"), windowMs: deps.config.retryBudget.windowMs }),
    findModel: (name) => deps.catalog.get(name),
  }));
  const registry = createRegistryService({
    db: deps.db,
    catalog: deps.catalog,
    heartbeatIntervalSeconds: Math.ceil(heartbeatIntervalSeconds),
    staleAfterMs: deps.config.agentStaleAfterMs,
    agents: deps.agents,
    checkAgentToken,
    checkAdminToken: createAdminCheck(deps.config.adminToken, { local: false }),
    checkReader: createAdminCheck(deps.config.adminToken, { local: true }),
    refuseAgentModel: (model) => refuseAgentModel(deps, model),
    keys: deps.keys,
    agentModels: createAgentModels({
      db: deps.db,
      createTransport: (address) => agentTransport(deps.config, address),
      settings: deps.config.recommend,
      staleAfterMs: deps.config.agentStaleAfterMs,
    }),
    onAgentRefused: (agent, reason) => deps.logger?.warn("agent registration refused", { agent, reason }),
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

const breakerStateNames: Readonly<Record<BreakerState, string>> = { [BreakerState.closed]: "closed", [BreakerState.halfOpen]: "half-open", [BreakerState.open]: "open" };

/** One line per breaker transition: warn when a backend is shut out, info when it is let in again. */
function logBreakerTransition(logger: Logger | undefined, transition: BreakerTransition): void {
  const fields = {
    backend: transition.backend,
    from: breakerStateNames[transition.from],
    to: breakerStateNames[transition.to],
    reason: transition.reason,
    ...(transition.until === undefined ? {} : { until: new Date(transition.until).toISOString() }),
  };
  if (transition.to === BreakerState.open) logger?.warn("circuit breaker opened: the backend is skipped", fields);
  else if (transition.to === BreakerState.closed) logger?.info("circuit breaker closed: the backend is used again", fields);
  else logger?.info("circuit breaker half-open: one probe request may go to the backend", fields);
}

/** Takes an agent whose call broke out of routing until it is heard from again (it may have crashed). */
function markSuspect(agents: AgentDirectory, id: string, logger: Logger): void {
  if (agents.markSuspect(id)) logger.warn("agent marked suspect: a call to it broke; it gets no requests until it is heard from again", { agent: id });
}

/** A started router: its routes and policy (for an in-process facade), its port, and how to stop it. */
export interface RunningRouter {
  readonly routes: (router: ConnectRouter) => void;
  /** What every call through the router meets (API keys, rate limits): the in-process facade's calls too. */
  readonly interceptors: Interceptor[];
  readonly agents: AgentDirectory;
  /** What this router observed of each backend (time to first token, tokens/s, in flight). */
  readonly backendStats: BackendStats;
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
  const db = openRegistry(config);
  const ownsTelemetry = telemetry === undefined;
  const processTelemetry = telemetry ?? (await createTelemetry({ serviceName: "iir-router", otlpEndpoint: config.otlpEndpoint }));
  let server: ConnectServer | undefined;
  let metricsServer: MetricsServer | undefined;
  let keys: ApiKeyStore | undefined;
  let rateLimits: RateLimitStore | undefined;
  let upstream: UpstreamClient | undefined;
  let agentSync: AgentSync | undefined;
  let concurrency: ConcurrencyLimiter | undefined;
  let providerModels: ProviderModels | undefined;
  let breakerShare: SharedBreakers | undefined;
  try {
    const migrated = await migrateToLatest(db);
    if (migrated.length > 0) logger.info("registry migrated", { migrations: migrated });
    const catalog = createModelCatalog(db, { refreshMs: config.registryRefreshMs });
    await catalog.refresh();
    upstream = createUpstreamClient(upstreamClientOptions(config));
    const adapters = new Map<string, ChatAdapter>([
      ["openai-compatible", createOpenAICompatibleAdapter({ timeoutMs: config.upstreamTimeoutMs, client: upstream, logger })],
      ["google", createGoogleAdapter({ timeoutMs: config.upstreamTimeoutMs, client: upstream })],
      ["azure", createAzureOpenAIAdapter({ timeoutMs: config.upstreamTimeoutMs, apiVersion: config.azureOpenAIApiVersion, client: upstream, logger })],
      ["anthropic", createAnthropicAdapter({ timeoutMs: config.upstreamTimeoutMs, client: upstream, version: config.anthropicVersion, logger })],
      [agentProvider, createAgentAdapter({ timeoutMs: config.upstreamTimeoutMs, createTransport: (baseUrl) => agentTransport(config, baseUrl), onAgentBroken: (id) => markSuspect(agents, id, logger) })],
    ]);
    const health = createHealthService();
    const agents = createAgentDirectory({ staleAfterMs: config.agentStaleAfterMs });
    // Agents registered with other replicas of this router (one shared registry) serve here too.
    agentSync = createAgentSync({
      db,
      agents,
      refreshMs: config.registryRefreshMs,
      onError: (error) => logger.error("cannot read agents from the registry; the agents known before stay in use", { error: error instanceof Error ? error.message : String(error) }),
    });
    await agentSync.refresh();
    const cache = createResponseCache(config, logger);
    keys = await createApiKeyStore({
      db,
      refreshMs: config.registryRefreshMs,
      onError: (error) => logger.error("cannot read API keys from the registry; the keys loaded before stay in force", { error: error instanceof Error ? error.message : String(error) }),
    });
    // Read in the background: readiness never waits on a provider's model list.
    providerModels = createProviderModels({
      providers: config.providers,
      adapterFor: (name) => adapters.get(name) ?? adapters.get("openai-compatible"),
      refreshMs: config.providerModelsRefreshMs,
      timeoutMs: Math.min(config.upstreamTimeoutMs, 30_000),
      warn: (message, fields) => logger.warn(message, fields),
    });
    providerModels.start();
    const backendStats = createBackendStats();
    breakerShare = config.redisUrl === undefined ? undefined : createSharedBreakers({ url: config.redisUrl, keyPrefix: config.redisKeyPrefix, logger });
    const routes = createRouterRoutes({ config, db, catalog, adapters, health, agents, cache, telemetry: processTelemetry, logger, keys, providerModels, backendStats, breakerShare });
    rateLimits = await createRateLimitStore(config, logger);
    // Like the per-minute budgets, caps on calls in flight are one across replicas when Redis is there.
    concurrency = await createConcurrency(config, logger);
    const interceptors = [createApiKeyPolicy({ keys, requireAuth: config.requireAuth, rateLimits, concurrency, defaults: { requests: config.rateLimitRequests, tokens: config.rateLimitTokens, concurrent: config.rateLimitConcurrent } })];
    server = await listenConnect({ routes, interceptors, host: config.routerHost, port: config.routerPort, readMaxBytes: config.maxBodyBytes, tls: config.tls, limits: config.serverLimits });
    warnAboutExposure(config, keys, logger);
    if (config.routerMetricsPort !== undefined) {
      metricsServer = await listenMetrics({ metrics: processTelemetry.metrics, host: config.routerHost, port: config.routerMetricsPort });
    }
    const metricsPort = metricsServer?.port;
    const running = server;
    const ownKeys = keys;
    const ownRateLimits = rateLimits;
    const ownUpstream = upstream;
    const ownAgentSync = agentSync;
    const ownConcurrency = concurrency;
    const ownProviderModels = providerModels;
    return {
      routes,
      interceptors,
      agents,
      backendStats,
      port: running.port,
      metricsPort,
      async close(graceMs) {
        health.shutdown();
        ownProviderModels.close();
        await running.close(graceMs);
        await metricsServer?.close();
        await ownAgentSync.close();
        await ownKeys.close();
        await ownRateLimits.close();
        await ownConcurrency.close?.();
        await ownUpstream.close();
        await breakerShare?.close();
        catalog.close();
        await cache?.close();
        await db.destroy();
        if (ownsTelemetry) await processTelemetry.shutdown();
      },
    };
  } catch (error) {
    providerModels?.close();
    await server?.close(0);
    await metricsServer?.close();
    await agentSync?.close();
    await keys?.close();
    await rateLimits?.close();
    await concurrency?.close?.();
    await upstream?.close();
    await breakerShare?.close();
    await db.destroy();
    if (ownsTelemetry) await processTelemetry.shutdown();
    throw error;
  }
}

/** An in-memory LRU bounded in entries and bytes, in front of Redis when REDIS_URL is set; none when CACHE_TTL is 0. */
function createResponseCache(config: Config, logger: Logger): ResponseCache | undefined {
  if (config.cacheTtlSeconds <= 0) return undefined;
  const near = createMemoryCache({ maxEntries: config.cacheMaxEntries, maxBytes: config.cacheMaxBytes });
  if (config.redisUrl === undefined) return near;
  return createTieredCache(near, createRedisCache({ url: config.redisUrl, timeoutMs: config.cacheTimeoutMs, keyPrefix: config.redisKeyPrefix, logger }));
}

/** Rate-limit counters: in Redis when REDIS_URL is set (every router replica spends one budget), else in memory. */
async function createRateLimitStore(config: Config, logger: Logger): Promise<RateLimitStore> {
  if (config.redisUrl === undefined) return createMemoryRateLimitStore();
  const redis = createRedisRateLimitStore({ url: config.redisUrl, keyPrefix: config.redisKeyPrefix, logger });
  // Limits hold from the first request when Redis is up; when it is down the router starts anyway.
  await redis.started;
  return redis;
}

/** Caps on calls in flight: counted in Redis when REDIS_URL is set (one cap across replicas, slots leased), else in memory. */
async function createConcurrency(config: Config, logger: Logger): Promise<ConcurrencyLimiter> {
  if (config.redisUrl === undefined) return createConcurrencyLimiter();
  const redis = createRedisConcurrencyLimiter({ url: config.redisUrl, keyPrefix: config.redisKeyPrefix, logger });
  await redis.started;
  return redis;
}

/** Says loudly, at start-up, what a port reachable from other machines leaves unprotected. */
function warnAboutExposure(config: Config, keys: ApiKeyStore, logger: Logger): void {
  if (!config.requireAuth && !keys.anyKeys()) {
    logger.warn(
      "inference is open to anyone who reaches the facade or the router: no API keys exist and IIR_REQUIRE_AUTH is not set; create one with `iir keys create --name NAME`",
      { facadeHost: config.host, routerHost: config.routerHost },
    );
  }
  if (isLoopbackHost(config.routerHost)) return;
  if (config.tls === undefined) logger.warn("the router's port is reachable from other machines without TLS: set IIR_TLS_CERT and IIR_TLS_KEY (and IIR_TLS_CA for mutual TLS)", { routerHost: config.routerHost });
  if (config.agentToken === undefined && config.tls?.ca === undefined) {
    logger.warn("agents on other machines cannot join this router: set IIR_AGENT_TOKEN on the router and its agents (or use mutual TLS)", { routerHost: config.routerHost });
  }
}

/** The router's client of one agent: TLS with the mesh's certificates for https:// agents, and the agent token. */
function agentTransport(config: Config, baseUrl: string) {
  const token = config.agentToken;
  const presentToken: Interceptor = (next) => (request) => {
    if (token !== undefined) request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
  return createMeshTransport(baseUrl, { tls: config.tls, interceptors: [presentToken] });
}

/** The upstream client's settings from the configuration. */
export function upstreamClientOptions(config: Pick<Config, "upstreamTimeoutMs" | "upstream">): UpstreamClientOptions {
  const { connectTimeoutMs, maxConnections, http2, httpProxy, httpsProxy, noProxy } = config.upstream;
  return { timeoutMs: config.upstreamTimeoutMs, connectTimeoutMs, maxConnections, http2, proxy: { httpProxy, httpsProxy, noProxy } };
}
