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
import { createAgentTokenCheck } from "./agent-token.js";
import { createHealthService } from "./grpc-health.js";
import { createReflectionServices } from "./grpc-reflection.js";
import { createHeartbeatService } from "./heartbeat-service.js";
import { createInferenceService } from "./inference-service.js";
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
  const inference = createInferenceService({ resolver, listModels: () => deps.catalog.list(), liveAgentModels: () => deps.agents.liveModels() });
  const registry = createRegistryService({
    db: deps.db,
    catalog: deps.catalog,
    heartbeatIntervalSeconds: Math.ceil(heartbeatIntervalSeconds),
    staleAfterMs: deps.config.agentStaleAfterMs,
    agents: deps.agents,
    checkAgentToken,
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
  close(graceMs: number): Promise<void>;
}

/** Opens the registry, migrates it, and serves the router on `config.routerPort`. */
export async function startRouter(config: Config, logger: Logger): Promise<RunningRouter> {
  const db = openDatabase(config.sqliteDbPath);
  let server: ConnectServer | undefined;
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
    const routes = createRouterRoutes({ config, db, catalog, adapters, health, agents });
    server = await listenConnect({ routes, host: config.host, port: config.routerPort });
    const running = server;
    return {
      routes,
      agents,
      port: running.port,
      async close(graceMs) {
        health.shutdown();
        await running.close(graceMs);
        catalog.close();
        await db.destroy();
      },
    };
  } catch (error) {
    await db.destroy();
    throw error;
  }
}
