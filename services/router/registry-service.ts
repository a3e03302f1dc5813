import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { Kysely } from "kysely";
import {
  DeleteModelResponseSchema,
  DeregisterAgentResponseSchema,
  GetModelResponseSchema,
  ListAgentsResponseSchema,
  ApiKeySchema,
  CreateApiKeyResponseSchema,
  ListApiKeysResponseSchema,
  ListModelsResponseSchema,
  RegisterAgentResponseSchema,
  RevokeApiKeyResponseSchema,
  UpsertModelResponseSchema,
  GetRegistryStatusResponseSchema,
  LoadAgentModelResponseSchema,
  RefreshRegistryResponseSchema,
  type RegistryService,
} from "../../gen/iir/registry/v1/registry_pb.js";
import { ApiKeyError, createApiKey, getApiKey, listApiKeys, revokeApiKey, type ApiKeyRecord } from "./registry/api-keys.repository.js";
import { deregisterAgent, isAgentStale, listAgents, registerAgent } from "./registry/agents.repository.js";
import type { AgentDirectory } from "./agents/agent-directory.js";
import type { AgentModels } from "./agents/agent-models.js";
import type { ModelCatalog } from "./registry/model-catalog.js";
import type { CallCheck } from "../common/mesh-tokens.js";
import { deleteModel, getModel, listModels, upsertModel } from "./registry/models.repository.js";
import type { Database } from "./registry/schema.js";

/** What the RegistryService is built from. */
export interface RegistryServiceDeps {
  readonly db: Kysely<Database>;
  /** Refreshed after every mutation so this router routes by the change at once. */
  readonly catalog: Pick<ModelCatalog, "refresh" | "get">;
  /** Told to agents when they register: how often to beat. */
  readonly heartbeatIntervalSeconds: number;
  /** An agent silent for longer than this is listed as stale. */
  readonly staleAfterMs: number;
  /** Clock in milliseconds; tests inject their own. */
  readonly now?: () => number;
  /** The router's live view of agents, told of every registration. */
  readonly agents?: AgentDirectory;
  /** Throws when an agent's call may not register it (agent token, loopback). */
  readonly checkAgentToken: CallCheck;
  /** Throws when a call may not change the registry or touch API keys (admin token). */
  readonly checkAdminToken: CallCheck;
  /** Throws when a call may not read the registry (admin token, or a caller on this machine). */
  readonly checkReader: CallCheck;
  /** Why a model name may not be served by an agent (a provider's prefix…); undefined when it may. */
  readonly refuseAgentModel: (model: string) => string | undefined;
  /** The router's API keys in memory, reloaded after every change made here (its own writes do not change SQLite's data_version). */
  readonly keys?: { refresh(): Promise<void> };
  /** Agents' model files and recommendations (refresh, status, load); absent: those RPCs are Unimplemented. */
  readonly agentModels?: AgentModels;
  /** Told about refused agent registrations, for the log. */
  readonly onAgentRefused?: (agentId: string, reason: string) => void;
}

/**
 * The registry's Connect service: models (get, list, upsert, delete) and agents (register,
 * deregister, list). Reads go to the database rather than the catalog, so an admin sees what is
 * stored even before the next refresh tick.
 */
export function createRegistryService(deps: RegistryServiceDeps): ServiceImpl<typeof RegistryService> {
  const now = deps.now ?? Date.now;
  return {
    async getModel(request, context) {
      deps.checkReader(context);
      const name = requireNonEmpty(request.name, "name");
      const model = await getModel(deps.db, name);
      if (model === undefined) throw new ConnectError(`model "${name}" not found`, Code.NotFound);
      return create(GetModelResponseSchema, { model });
    },
    async listModels(_request, context) {
      deps.checkReader(context);
      return create(ListModelsResponseSchema, { models: await listModels(deps.db) });
    },
    async upsertModel(request, context) {
      deps.checkAdminToken(context);
      if (request.model === undefined) throw new ConnectError("model is required", Code.InvalidArgument);
      const model = await upsertModel(deps.db, request.model, now());
      await deps.catalog.refresh();
      return create(UpsertModelResponseSchema, { model });
    },
    async deleteModel(request, context) {
      deps.checkAdminToken(context);
      const name = requireNonEmpty(request.name, "name");
      if (!(await deleteModel(deps.db, name))) throw new ConnectError(`model "${name}" not found`, Code.NotFound);
      await deps.catalog.refresh();
      return create(DeleteModelResponseSchema);
    },
    async registerAgent(request, context) {
      deps.checkAgentToken(context);
      const id = requireNonEmpty(request.id, "id");
      requireHttpUrl(request.address, "address");
      const models = request.models.map((model, index) => requireNonEmpty(model, `models[${index}]`));
      for (const model of models) {
        const reason = deps.refuseAgentModel(model);
        if (reason === undefined) continue;
        deps.onAgentRefused?.(id, reason);
        throw new ConnectError(`agent "${id}" may not serve '${model}': ${reason}`, Code.PermissionDenied);
      }
      if (request.modelFiles.length > 10_000) throw new ConnectError("model_files lists more than 10000 files", Code.InvalidArgument);
      const agent = await registerAgent(deps.db, { id, address: request.address, models, hardware: request.hardware, modelFiles: request.modelFiles }, now());
      deps.agents?.upsert(agent);
      return create(RegisterAgentResponseSchema, { heartbeatIntervalSeconds: deps.heartbeatIntervalSeconds });
    },
    async deregisterAgent(request, context) {
      deps.checkAgentToken(context);
      const id = requireNonEmpty(request.id, "id");
      deps.agents?.remove(id);
      if (!(await deregisterAgent(deps.db, id))) throw new ConnectError(`agent "${id}" not found`, Code.NotFound);
      return create(DeregisterAgentResponseSchema);
    },
    async listAgents(_request, context) {
      deps.checkReader(context);
      const at = now();
      const agents = await listAgents(deps.db);
      for (const agent of agents) agent.stale = isAgentStale(agent, at, deps.staleAfterMs);
      return create(ListAgentsResponseSchema, { agents });
    },
    async refreshRegistry(_request, context) {
      deps.checkAdminToken(context);
      return create(RefreshRegistryResponseSchema, { status: await requireAgentModels(deps).refresh() });
    },
    async getRegistryStatus(_request, context) {
      // The admin token even on loopback: the facade calls in-process, on behalf of clients anywhere.
      deps.checkAdminToken(context);
      return create(GetRegistryStatusResponseSchema, { status: await requireAgentModels(deps).status() });
    },
    async loadAgentModel(request, context) {
      deps.checkAdminToken(context);
      const agentId = requireNonEmpty(request.agentId, "agent_id");
      const fileName = requireNonEmpty(request.fileName, "file_name");
      if (request.contextSize < 0) throw new ConnectError(`context_size must be 0 (the agent's default) or a number of tokens, got ${request.contextSize}`, Code.InvalidArgument);
      return create(LoadAgentModelResponseSchema, await requireAgentModels(deps).load(agentId, fileName, request.contextSize));
    },
    async createApiKey(request, context) {
      deps.checkAdminToken(context);
      try {
        const { key, record } = await createApiKey(deps.db, { name: request.name, rpm: request.rpm, tpm: request.tpm, maxConcurrent: request.maxConcurrent }, now());
        await deps.keys?.refresh();
        return create(CreateApiKeyResponseSchema, { apiKey: apiKeyMessage(record), secret: key });
      } catch (error) {
        throw apiKeyFailure(error);
      }
    },
    async listApiKeys(_request, context) {
      deps.checkAdminToken(context);
      return create(ListApiKeysResponseSchema, { apiKeys: (await listApiKeys(deps.db)).map(apiKeyMessage) });
    },
    async revokeApiKey(request, context) {
      deps.checkAdminToken(context);
      const name = requireNonEmpty(request.name, "name");
      const outcome = await revokeApiKey(deps.db, name, now());
      await deps.keys?.refresh();
      const record = await getApiKey(deps.db, name);
      if (outcome === "not-found" || record === undefined) throw new ConnectError(`API key "${name}" not found`, Code.NotFound);
      return create(RevokeApiKeyResponseSchema, { apiKey: apiKeyMessage(record) });
    },
  };
}

function requireAgentModels(deps: RegistryServiceDeps): AgentModels {
  if (deps.agentModels === undefined) throw new ConnectError("this router does not track agents' model files", Code.Unimplemented);
  return deps.agentModels;
}

function apiKeyMessage(record: ApiKeyRecord) {
  return create(ApiKeySchema, {
    id: record.id,
    name: record.name,
    lastFour: record.lastFour,
    rpm: record.rpm,
    tpm: record.tpm,
    maxConcurrent: record.maxConcurrent,
    createdAt: BigInt(record.createdAt),
    revokedAt: BigInt(record.revokedAt ?? 0),
  });
}

function apiKeyFailure(error: unknown): unknown {
  if (!(error instanceof ApiKeyError)) return error;
  return new ConnectError(error.message, /already exists/.test(error.message) ? Code.AlreadyExists : Code.InvalidArgument);
}

function requireNonEmpty(value: string, field: string): string {
  if (value.trim() === "") throw new ConnectError(`${field} must not be empty`, Code.InvalidArgument);
  return value;
}

function requireHttpUrl(value: string, field: string): void {
  let protocol: string | undefined;
  try {
    protocol = new URL(value).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== "http:" && protocol !== "https:") {
    throw new ConnectError(`${field} must be an http(s) URL, got "${value}"`, Code.InvalidArgument);
  }
}
