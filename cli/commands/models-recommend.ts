import { parseArgs } from "node:util";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { RegistryService, type ModelFile, type RegistryStatus } from "../../gen/iir/registry/v1/registry_pb.js";
import type { Config } from "../../services/common/config.js";
import { createMeshTransport } from "../../services/common/mesh-transport.js";
import { registryStatusToJson } from "../../facade/registry-status-json.js";
import { UsageError } from "./models-usage.js";
import type { CommandOutput } from "./models.js";

/** Help for the commands that ask a running router about its agents' model files. */
export const recommendUsage = `usage:
  iir models recommend [--refresh] [--json] [--router URL]
      which GGUF files of each agent's models directory fit its memory, and at what context size
  iir models load --agent ID FILE [--context-size N] [--router URL]
      tell an agent to serve FILE (a name inside its IIR_AGENT_MODELS_DIR) instead of its model
They call the router at --router or IIR_ROUTER_URL with the admin token IIR_ADMIN_TOKEN.
`;

/**
 * `iir models recommend` and `iir models load`: RegistryService calls to a running router (not the
 * database: model files and hardware come from live agents). Throws UsageError for a bad command
 * line; a router's refusal is thrown as its ConnectError.
 */
export async function runRecommendCommand(args: string[], config: Config, output: CommandOutput): Promise<void> {
  const [subcommand, ...rest] = args;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: { json: { type: "boolean" }, refresh: { type: "boolean" }, router: { type: "string" }, agent: { type: "string" }, "context-size": { type: "string" } },
    });
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n${recommendUsage}`);
  }
  const { values, positionals } = parsed;
  const token = config.adminToken;
  const presentToken: Interceptor = (next) => (request) => {
    if (token !== undefined) request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
  const registry = createClient(RegistryService, createMeshTransport(values.router ?? config.routerUrl, { tls: config.tls, interceptors: [presentToken] }));
  if (subcommand === "recommend") {
    if (positionals.length > 0) throw new UsageError(`models recommend takes no arguments\n${recommendUsage}`);
    const status = values.refresh === true ? (await registry.refreshRegistry({})).status : (await registry.getRegistryStatus({})).status;
    if (status === undefined) throw new Error("the router answered no status");
    if (values.json === true) output.log(JSON.stringify(registryStatusToJson(status), null, 2));
    else for (const line of formatRecommendationTable(status)) output.log(line);
    return;
  }
  const agentId = values.agent;
  if (agentId === undefined || agentId === "" || positionals.length !== 1) throw new UsageError(`models load needs --agent ID and one FILE\n${recommendUsage}`);
  const contextSize = values["context-size"] === undefined ? 0 : Number(values["context-size"]);
  if (!Number.isSafeInteger(contextSize) || contextSize < 0) throw new UsageError(`--context-size must be a whole number of tokens\n${recommendUsage}`);
  const answer = await registry.loadAgentModel({ agentId, fileName: positionals[0]!, contextSize });
  output.log(`agent ${agentId} now serves ${answer.modelId} (context ${answer.contextSize} tokens)`);
}

/** One row per agent and model file: what it is, whether it fits and at what context, the top pick. */
export function formatRecommendationTable(status: RegistryStatus): string[] {
  const header = ["AGENT", "MODEL FILE", "PARAMS", "QUANT", "SIZE", "FITS", "MAX CONTEXT", "RECOMMENDED"];
  const rows: string[][] = [];
  for (const entry of status.agents) {
    const files = new Map<string, ModelFile>((entry.agent?.modelFiles ?? []).map((file) => [file.fileName, file]));
    for (const recommendation of entry.recommendations) {
      const file = files.get(recommendation.fileName);
      rows.push([
        entry.agent?.id ?? "",
        recommendation.fileName,
        file === undefined ? "" : humanCount(Number(file.parameterCount)),
        file?.quantization ?? "",
        file === undefined ? "" : humanBytes(Number(file.sizeBytes)),
        recommendation.fits ? "yes" : "no",
        recommendation.fits ? String(recommendation.maxContextSize) : "-",
        recommendation.recommended ? `yes${recommendation.loaded ? " (loaded)" : ""}` : recommendation.loaded ? "loaded" : "",
      ]);
    }
  }
  const refreshed = status.lastRefreshAt > 0n ? new Date(Number(status.lastRefreshAt)).toISOString() : "never";
  if (rows.length === 0) return [`no agent reported model files (last refresh: ${refreshed}); start agents with IIR_AGENT_MODELS_DIR`];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd();
  return [line(header), ...rows.map(line), `last refresh: ${refreshed}; headroom ${Math.round(status.headroomFraction * 100)}% + ${humanBytes(Number(status.reserveBytes))} reserved`];
}

function humanCount(count: number): string {
  if (count >= 1e9) return `${(count / 1e9).toFixed(1)}B`;
  if (count >= 1e6) return `${(count / 1e6).toFixed(1)}M`;
  if (count >= 1e3) return `${(count / 1e3).toFixed(1)}K`;
  return String(count);
}

function humanBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
