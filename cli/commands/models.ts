import { clone, create } from "@bufbuild/protobuf";
import type { Kysely } from "kysely";
import { ModelSchema, type Model } from "../../gen/iir/registry/v1/registry_pb.js";
import { migrateToLatest } from "../../services/router/registry/migrations/index.js";
import { deleteModel, getModel, listModels, upsertModel, validateModel } from "../../services/router/registry/models.repository.js";
import type { Database } from "../../services/router/registry/schema.js";
import { parseDeploymentFlag, parseTtftTimeout } from "./models-deployment-flags.js";
import { formatModelDetails, formatModelTable, modelToPlain } from "./models-format.js";
import { modelsUsage, parseCommandArgs, requireOnePositional, UsageError } from "./models-usage.js";

export { runSeedCommand } from "./models-seed.js";
export { UsageError } from "./models-usage.js";

/** Where a command writes what it has to say, one line at a time. */
export interface CommandOutput {
  log(line: string): void;
}

const modelFlags = {
  provider: { type: "string" },
  "base-url": { type: "string" },
  "upstream-model": { type: "string" },
  "api-key-env": { type: "string" },
  fallbacks: { type: "string" },
  "context-length": { type: "string" },
  "input-price": { type: "string" },
  "output-price": { type: "string" },
  disabled: { type: "boolean" },
  enabled: { type: "boolean" },
  "allow-request-field": { type: "string", multiple: true },
  "cache-sampled": { type: "boolean" },
  "no-cache-sampled": { type: "boolean" },
  deployment: { type: "string", multiple: true },
  strategy: { type: "string" },
  "ttft-timeout": { type: "string" },
  capability: { type: "string", multiple: true },
} as const;

type BooleanFlag = "disabled" | "enabled" | "cache-sampled" | "no-cache-sampled";
type ListFlag = "allow-request-field" | "deployment" | "capability";
type ModelFlagValues = Partial<Record<Exclude<keyof typeof modelFlags, BooleanFlag | ListFlag>, string>> &
  Partial<Record<BooleanFlag, boolean>> &
  Partial<Record<ListFlag, string[]>>;

/**
 * `iir models list|add|update|rm …`. Writes straight to the registry database; a running router
 * picks the change up on its next refresh. Throws UsageError for a bad command line and Error when
 * the registry refuses (unknown or duplicate name).
 */
export async function runModelsCommand(args: string[], db: Kysely<Database>, output: CommandOutput): Promise<void> {
  const [subcommand, ...rest] = args;
  switch (subcommand) {
    case "list":
      return listCommand(rest, db, output);
    case "show":
      return showCommand(rest, db, output);
    case "add":
      return addCommand(rest, db, output);
    case "update":
      return updateCommand(rest, db, output);
    case "rm":
      return removeCommand(rest, db, output);
    case "help":
    case "--help":
    case "-h":
      output.log(modelsUsage);
      return;
    default:
      throw new UsageError(`${subcommand === undefined ? "missing" : `unknown`} models command${subcommand === undefined ? "" : ` '${subcommand}'`}\n${modelsUsage}`);
  }
}

/** `iir migrate`: brings the schema up to date and says which migrations ran. */
export async function runMigrateCommand(db: Kysely<Database>, output: CommandOutput): Promise<void> {
  const applied = await migrateToLatest(db);
  if (applied.length === 0) output.log("registry already up to date");
  for (const name of applied) output.log(`applied migration ${name}`);
}

async function listCommand(args: string[], db: Kysely<Database>, output: CommandOutput): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, { json: { type: "boolean" } });
  if (positionals.length > 0) throw new UsageError(`models list takes no arguments\n${modelsUsage}`);
  const models = await listModels(db);
  if (values.json) output.log(JSON.stringify({ models: models.map(modelToPlain) }, null, 2));
  else if (models.length === 0) output.log("no models registered (add one with: iir models add NAME --provider P)");
  else for (const line of formatModelTable(models)) output.log(line);
}

async function showCommand(args: string[], db: Kysely<Database>, output: CommandOutput): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, { json: { type: "boolean" } });
  const name = requireOnePositional(positionals, "model NAME", "models show");
  const model = await getModel(db, name);
  if (model === undefined) throw new Error(`model "${name}" not found`);
  if (values.json) output.log(JSON.stringify(modelToPlain(model), null, 2));
  else for (const line of formatModelDetails(model)) output.log(line);
}

async function addCommand(args: string[], db: Kysely<Database>, output: CommandOutput): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, modelFlags);
  const name = requireOnePositional(positionals, "model NAME", "models add");
  if (values.provider === undefined) throw new UsageError(`models add needs --provider\n${modelsUsage}`);
  if (values.enabled) throw new UsageError(`models add takes --disabled, not --enabled (models are enabled by default)\n${modelsUsage}`);
  if ((await getModel(db, name)) !== undefined) {
    throw new Error(`model "${name}" already exists; change it with: iir models update ${name} …`);
  }
  const model = applyFlags(create(ModelSchema, { name, enabled: true }), values);
  const stored = await upsertModel(db, model);
  output.log(`added model ${stored.name} (provider ${stored.provider}${stored.enabled ? "" : ", disabled"})`);
}

async function updateCommand(args: string[], db: Kysely<Database>, output: CommandOutput): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, modelFlags);
  const name = requireOnePositional(positionals, "model NAME", "models update");
  const changed = Object.keys(values);
  if (changed.length === 0) throw new UsageError(`models update ${name}: no flags given, nothing to change\n${modelsUsage}`);
  if (values.enabled && values.disabled) throw new UsageError(`models update: --enabled and --disabled contradict each other`);
  if (values["cache-sampled"] && values["no-cache-sampled"]) throw new UsageError(`models update: --cache-sampled and --no-cache-sampled contradict each other`);
  const existing = await getModel(db, name);
  if (existing === undefined) throw new Error(`model "${name}" not found; add it with: iir models add ${name} --provider P`);
  await upsertModel(db, applyFlags(clone(ModelSchema, existing), values));
  output.log(`updated model ${name}: ${changed.map((flag) => `--${flag}`).join(" ")}`);
}

async function removeCommand(args: string[], db: Kysely<Database>, output: CommandOutput): Promise<void> {
  const { positionals } = parseCommandArgs(args, {});
  const name = requireOnePositional(positionals, "model NAME", "models rm");
  if (!(await deleteModel(db, name))) throw new Error(`model "${name}" not found`);
  output.log(`removed model ${name}`);
}

/** Applies the given flags to `model`; throws a UsageError naming every bad value. */
function applyFlags(model: Model, values: ModelFlagValues): Model {
  const problems: string[] = [];
  const number = (flag: "context-length" | "input-price" | "output-price", fallback: number): number => {
    const text = values[flag];
    if (text === undefined) return fallback;
    const parsed = text.trim() === "" ? Number.NaN : Number(text);
    if (!Number.isFinite(parsed) || parsed < 0 || (flag === "context-length" && !Number.isInteger(parsed))) {
      problems.push(`--${flag} must be ${flag === "context-length" ? "an integer" : "a number"} >= 0, got "${text}"`);
    }
    return parsed;
  };
  if (values.provider !== undefined) model.provider = values.provider;
  if (values["base-url"] !== undefined) model.baseUrl = values["base-url"];
  if (values["upstream-model"] !== undefined) model.upstreamModel = values["upstream-model"];
  if (values["api-key-env"] !== undefined) model.apiKeyEnv = values["api-key-env"];
  if (values.fallbacks !== undefined) model.fallbacks = splitList(values.fallbacks);
  model.contextLength = number("context-length", model.contextLength);
  model.inputPricePerMillion = number("input-price", model.inputPricePerMillion);
  model.outputPricePerMillion = number("output-price", model.outputPricePerMillion);
  if (values.disabled) model.enabled = false;
  if (values.enabled) model.enabled = true;
  // The flags given replace the list; one empty value (--allow-request-field '') clears it.
  const fields = values["allow-request-field"];
  if (fields !== undefined) model.allowedRequestFields = fields.map((field) => field.trim()).filter((field) => field !== "");
  if (values["cache-sampled"]) model.cacheSampled = true;
  if (values["no-cache-sampled"]) model.cacheSampled = false;
  applyRoutingFlags(model, values, problems);
  // Flag-level problems come first; the registry's own rules (URL, provider) are checked only once they are fixed.
  if (problems.length === 0) problems.push(...validateModel(model));
  if (problems.length > 0) throw new UsageError(`invalid model "${model.name}":\n  - ${problems.join("\n  - ")}`);
  return model;
}

/** --deployment, --strategy, --ttft-timeout, --capability; lists given replace the stored ones, one '' clears. */
function applyRoutingFlags(model: Model, values: ModelFlagValues, problems: string[]): void {
  const deployments = values.deployment;
  if (deployments !== undefined) {
    const given = deployments.filter((text) => text.trim() !== "");
    model.deployments = given.map((text, index) => parseDeploymentFlag(text, index, problems));
  }
  if (values.strategy !== undefined) model.strategy = values.strategy.trim();
  const timeout = values["ttft-timeout"];
  if (timeout !== undefined) {
    const milliseconds = parseTtftTimeout(timeout);
    if (milliseconds === undefined) problems.push(`--ttft-timeout must be milliseconds (1500) or seconds (30s), got "${timeout}"`);
    else model.ttftTimeoutMs = milliseconds;
  }
  const capabilities = values.capability;
  if (capabilities !== undefined) model.capabilities = capabilities.map((capability) => capability.trim()).filter((capability) => capability !== "");
}

function splitList(text: string): string[] {
  return text.split(",").map((item) => item.trim()).filter((item) => item !== "");
}
