import { parseArgs } from "node:util";
import { chatParamsFromOpenAIRequest } from "../../facade/translate/convert-from-openai-request.js";
import type { ChatParams } from "../../gen/iir/inference/v1/inference_pb.js";
import type { Config } from "../../services/common/config.js";
import type { ChatAdapter } from "../../services/router/adapters/adapter.js";
import { createAgentDirectory } from "../../services/router/agents/agent-directory.js";
import { openRegistry } from "../../services/router/registry/database.js";
import { listAgents } from "../../services/router/registry/agents.repository.js";
import { migrateToLatest } from "../../services/router/registry/migrations/index.js";
import { listModels } from "../../services/router/registry/models.repository.js";
import { decideRoute, formatUsd, isRouterName, routeHeader, routeHeaderValue, type RouteDecision } from "../../services/router/routing/auto-router.js";
import { agentProvider, createRouteResolver } from "../../services/router/routing/resolve-route.js";
import { UsageError } from "./models-usage.js";

export const routeUsage = `usage: iir route explain '<chat completion request JSON>' [--json]
       iir route explain - [--json]      (the request on standard input)

Prints which model a router (model "auto", or a registry entry of provider "auto") would choose
for the request and why, from the registry and the configuration alone: no backend is called,
and latencies count as unobserved (the live router also weighs what it measured).
`;

interface Output {
  log(line: string): void;
}

/** `iir route explain`: the decision `x-iir-route` would report, as a table (or JSON). */
export async function runRouteCommand(args: string[], config: Config, output: Output, readStdin: () => Promise<string>): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } }, allowPositionals: true });
  if (values.help) {
    output.log(routeUsage);
    return;
  }
  const [verb, request, ...rest] = positionals;
  if (verb !== "explain" || request === undefined || rest.length > 0) throw new UsageError(`expected: explain '<request json>'\n${routeUsage}`);
  const params = readRequest(request === "-" ? await readStdin() : request);
  const decision = await explain(config, params);
  if (values.json) output.log(JSON.stringify(decisionJson(decision), null, 2));
  else for (const line of decisionTable(decision)) output.log(line);
}

/** The OpenAI chat request as the facade reads it; a bad one is a usage error naming the field. */
function readRequest(text: string): ChatParams {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the request is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    return chatParamsFromOpenAIRequest(body).params;
  } catch (error) {
    throw new UsageError(`the request is not a chat completion request: ${error instanceof Error ? error.message : String(error)}`);
  }
}

// Explaining calls no backend: candidates need an adapter to be built, never one that answers.
const notCalled: ChatAdapter = {
  chat: () => Promise.reject(new Error("iir route explain calls no backend")),
  chatStream: () => {
    throw new Error("iir route explain calls no backend");
  },
};

/** Decides as the router does, with the registry's models and agents (live by their last beat) and this configuration. */
async function explain(config: Config, params: ChatParams): Promise<RouteDecision> {
  const db = openRegistry(config);
  try {
    await migrateToLatest(db);
    const models = await listModels(db);
    const agents = createAgentDirectory({ staleAfterMs: config.agentStaleAfterMs });
    agents.sync(await listAgents(db), Date.now());
    const findModel = (name: string) => models.find((model) => model.name === name);
    if (!isRouterName(params.model, findModel)) {
      throw new UsageError(`'${params.model}' is not a router: use "model": "auto" or a registry entry of provider "auto"`);
    }
    const adapters = new Map(["openai-compatible", "anthropic", "google", "azure", agentProvider].map((name) => [name, notCalled]));
    const inner = createRouteResolver({ findModel, providers: config.providers, adapters, secret: config.secret, agents });
    return decideRoute({ inner, findModel, listModels: () => models, liveAgentModels: () => agents.liveModels().keys(), weights: config.autoRouting }, params.model, params);
  } finally {
    await db.destroy();
  }
}

function decisionJson(decision: RouteDecision) {
  return {
    router: decision.router,
    model: decision.chosen?.name ?? null,
    deployment: decision.deployment ?? null,
    reason: decision.reason,
    complexity: decision.ranking.complexity,
    classifier: decision.classifier,
    expected_output_tokens: decision.ranking.expectedOutputTokens,
    weights: { cost: decision.weights.costWeight, latency: decision.weights.latencyWeight, cost_threshold: decision.weights.costThreshold },
    ranked: decision.ranking.ranked.map((entry) => ({ ...entry, cost_usd: entry.costUsd, costUsd: undefined })),
    excluded: decision.ranking.excluded,
    skipped: decision.skipped,
    header: decision.chosen === undefined ? null : routeHeaderValue(decision),
  };
}

function decisionTable(decision: RouteDecision): string[] {
  const skipped = new Map(decision.skipped.map((entry) => [entry.name, entry.reason]));
  const rows = [
    ["model", "score", "cost_usd", "cost", "latency", "strength", ""],
    ...decision.ranking.ranked.map((entry) => [
      entry.name,
      entry.score.toFixed(3),
      formatUsd(entry.costUsd),
      entry.cost.toFixed(3),
      entry.latency.toFixed(3),
      entry.strength.toFixed(3),
      entry === decision.chosen ? "<- chosen" : skipped.has(entry.name) ? `cannot be called: ${skipped.get(entry.name)}` : "",
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = [
    `router ${decision.router}: complexity ${decision.ranking.complexity} (${decision.classifier}), weights cost ${decision.weights.costWeight} latency ${decision.weights.latencyWeight}, cost threshold ${decision.weights.costThreshold || "none"}`,
    "",
    ...rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd()),
  ];
  for (const entry of decision.ranking.excluded) lines.push(`excluded ${entry.name}: ${entry.reason}`);
  lines.push("", decision.chosen === undefined ? `no model can serve this request: ${decision.reason}` : `${routeHeader}: ${routeHeaderValue(decision)}`);
  return lines;
}
