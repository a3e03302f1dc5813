import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import type { Kysely } from "kysely";
import { AgentControlService } from "../../../gen/iir/agent/v1/agent_control_pb.js";
import {
  AgentStatusSchema,
  RegistryStatusSchema,
  type LoadAgentModelResponse,
  type RegistryStatus,
} from "../../../gen/iir/registry/v1/registry_pb.js";
import { isAgentStale, listAgents, recordModelFiles } from "../registry/agents.repository.js";
import { recommendModels, type RecommendationSettings } from "../registry/recommendations.js";
import type { Database } from "../registry/schema.js";

/** What {@link createAgentModels} works with. */
export interface AgentModelsOptions {
  readonly db: Kysely<Database>;
  /** The router's client transport to an agent (agent token, mesh TLS). */
  readonly createTransport: (address: string) => Transport;
  readonly settings: RecommendationSettings;
  readonly staleAfterMs: number;
  /** Longest wait for one agent's rescan (default 60 s) and model load (default 10 min). */
  readonly scanTimeoutMs?: number;
  readonly loadTimeoutMs?: number;
  /** Clock in milliseconds; tests inject their own. */
  readonly now?: () => number;
}

/** The router's view of the model files its agents can load, and its handle to load one. */
export interface AgentModels {
  /** Asks every live agent to rescan its models directory, stores the answers, and answers the status. */
  refresh(): Promise<RegistryStatus>;
  /** Every registered agent with its hardware, model files and recommendations. */
  status(): Promise<RegistryStatus>;
  /** Tells an agent to serve a file of its models directory; the agent registers the new model itself. */
  load(agentId: string, fileName: string, contextSize: number): Promise<Pick<LoadAgentModelResponse, "modelId" | "contextSize">>;
}

/**
 * Hardware-aware recommendations over the registry's agents. Model files and hardware live in the
 * `agents` table (written at registration and by refresh), so every router replica answers the same.
 */
export function createAgentModels(options: AgentModelsOptions): AgentModels {
  const now = options.now ?? Date.now;
  const clients = new Map<string, Client<typeof AgentControlService>>();
  const refreshErrors = new Map<string, string>();
  let lastRefreshAt = 0;
  const clientOf = (address: string) => {
    let client = clients.get(address);
    if (client === undefined) {
      client = createClient(AgentControlService, options.createTransport(address));
      clients.set(address, client);
    }
    return client;
  };

  const status = async (): Promise<RegistryStatus> => {
    const at = now();
    const agents = await listAgents(options.db);
    let last = lastRefreshAt;
    const statuses = agents.map((agent) => {
      agent.stale = isAgentStale(agent, at, options.staleAfterMs);
      last = Math.max(last, Number(agent.modelFilesUpdatedAt));
      const { budget, recommendations } = recommendModels(agent.modelFiles, agent.hardware, agent.models, options.settings);
      return create(AgentStatusSchema, { agent, budgetBytes: BigInt(budget.bytes), budgetKind: budget.kind, recommendations, refreshError: refreshErrors.get(agent.id) ?? "" });
    });
    return create(RegistryStatusSchema, {
      lastRefreshAt: BigInt(last),
      headroomFraction: options.settings.headroomFraction,
      reserveBytes: BigInt(options.settings.reserveBytes),
      agents: statuses,
    });
  };

  return {
    status,
    async refresh() {
      const at = now();
      const live = (await listAgents(options.db)).filter((agent) => !isAgentStale(agent, at, options.staleAfterMs));
      await Promise.all(live.map(async (agent) => {
        try {
          const answer = await clientOf(agent.address).scanModels({}, { timeoutMs: options.scanTimeoutMs ?? 60_000 });
          await recordModelFiles(options.db, agent.id, answer.hardware, answer.modelFiles, now());
          refreshErrors.delete(agent.id);
        } catch (error) {
          // One unreachable agent must not fail the refresh of the others: its error is in the status.
          refreshErrors.set(agent.id, ConnectError.from(error).rawMessage);
        }
      }));
      lastRefreshAt = now();
      return status();
    },
    async load(agentId, fileName, contextSize) {
      if (fileName === "" || /[/\\\0]/.test(fileName) || fileName.startsWith(".")) {
        throw new ConnectError(`file_name must be a bare file name inside the agent's models directory, got ${JSON.stringify(fileName.slice(0, 200))}`, Code.InvalidArgument);
      }
      const agent = (await listAgents(options.db)).find((candidate) => candidate.id === agentId);
      if (agent === undefined) throw new ConnectError(`agent "${agentId}" not found`, Code.NotFound);
      if (isAgentStale(agent, now(), options.staleAfterMs)) throw new ConnectError(`agent "${agentId}" is not live`, Code.Unavailable);
      const answer = await clientOf(agent.address).loadModel({ fileName, contextSize }, { timeoutMs: options.loadTimeoutMs ?? 600_000 });
      return { modelId: answer.modelId, contextSize: answer.contextSize };
    },
  };
}
