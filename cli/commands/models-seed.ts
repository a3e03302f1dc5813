import { readFile } from "node:fs/promises";
import { create, fromJson, type JsonValue } from "@bufbuild/protobuf";
import type { Kysely } from "kysely";
import { parse } from "yaml";
import { AutoRoutingSchema, DeploymentSchema, ModelSchema, type AutoRouting, type Deployment, type Model } from "../../gen/iir/registry/v1/registry_pb.js";
import { getModel, upsertModel, validateModel } from "../../services/router/registry/models.repository.js";
import type { Database } from "../../services/router/registry/schema.js";
import type { CommandOutput } from "./models.js";
import { modelsUsage, parseCommandArgs, requireOnePositional } from "./models-usage.js";

const stringFields = ["name", "provider", "base_url", "upstream_model", "api_key_env", "strategy"] as const;
const numberFields = ["context_length", "input_price_per_million", "output_price_per_million", "ttft_timeout_ms"] as const;
// Timestamps are accepted so that `iir models list --json` output seeds as is; the registry sets its own.
const ignoredFields = ["created_at", "updated_at"] as const;
const listFields = ["fallbacks", "allowed_request_fields", "capabilities"] as const;
const booleanFields = ["enabled", "cache_sampled"] as const;
const objectFields = ["deployments", "auto"] as const;
const knownFields = new Set<string>([...stringFields, ...numberFields, ...listFields, ...booleanFields, ...objectFields, ...ignoredFields]);
const deploymentFields = ["name", "provider", "upstream_model", "base_url", "api_key_env", "weight"] as const;

/**
 * `iir seed FILE`: upserts every model of a YAML or JSON file `{ models: [...] }` in one transaction.
 * Every entry is checked first; if any is wrong nothing is written and the Error lists every
 * problem by entry index and field.
 */
export async function runSeedCommand(args: string[], db: Kysely<Database>, output: CommandOutput): Promise<void> {
  const { positionals } = parseCommandArgs(args, {});
  const file = requireOnePositional(positionals, "FILE", "seed");
  const models = parseSeedDocument(await readSeedFile(file), file);
  const added: string[] = [];
  await db.transaction().execute(async (transaction) => {
    const now = Date.now();
    for (const model of models) {
      if ((await getModel(transaction, model.name)) === undefined) added.push(model.name);
      await upsertModel(transaction, model, now);
    }
  });
  output.log(`seeded ${models.length} model(s) from ${file}: ${added.length} added, ${models.length - added.length} updated`);
}

async function readSeedFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new Error(`cannot read seed file "${file}": ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    // YAML is a superset of JSON, so one parser reads both.
    return parse(text);
  } catch (error) {
    throw new Error(`cannot parse seed file "${file}": ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Converts a parsed seed document into models, or throws an Error listing every problem
 * (`models[2].base_url: …`) when any entry is invalid.
 */
export function parseSeedDocument(document: unknown, file: string): Model[] {
  const entries = isRecord(document) ? document["models"] : undefined;
  if (!Array.isArray(entries)) {
    throw new Error(`seed file "${file}" must hold an object with a "models" list\n${modelsUsage}`);
  }
  const problems: string[] = [];
  const firstIndexByName = new Map<string, number>();
  const models = entries.map((entry: unknown, index) => {
    const model = entryToModel(entry, `models[${index}]`, problems);
    const earlier = firstIndexByName.get(model.name);
    if (earlier !== undefined) problems.push(`models[${index}].name "${model.name}" already appears at models[${earlier}]`);
    else if (model.name !== "") firstIndexByName.set(model.name, index);
    return model;
  });
  if (problems.length > 0) {
    throw new Error(`seed file "${file}" has ${problems.length} problem(s), nothing was written:\n  - ${problems.join("\n  - ")}`);
  }
  return models;
}

function entryToModel(entry: unknown, where: string, problems: string[]): Model {
  const model = create(ModelSchema, { enabled: true });
  if (!isRecord(entry)) {
    problems.push(`${where} must be an object with at least name and provider`);
    return model;
  }
  const mistyped = new Set<string>();
  const wrongType = (field: string, expected: string) => {
    mistyped.add(field);
    problems.push(`${where}.${field} must be ${expected}, got ${JSON.stringify(entry[field])}`);
  };
  for (const key of Object.keys(entry)) {
    if (!knownFields.has(key)) problems.push(`${where}.${key} is not a known field (known: ${[...knownFields].join(", ")})`);
  }
  const text = (field: (typeof stringFields)[number]): string => {
    const value = entry[field] ?? "";
    if (typeof value === "string") return value;
    wrongType(field, "a string");
    return "";
  };
  const number = (field: (typeof numberFields)[number]): number => {
    const value = entry[field] ?? 0;
    if (typeof value === "number") return value;
    wrongType(field, "a number");
    return 0;
  };
  Object.assign(model, {
    name: text("name"),
    provider: text("provider"),
    baseUrl: text("base_url"),
    upstreamModel: text("upstream_model"),
    apiKeyEnv: text("api_key_env"),
    strategy: text("strategy"),
    ttftTimeoutMs: number("ttft_timeout_ms"),
    contextLength: number("context_length"),
    inputPricePerMillion: number("input_price_per_million"),
    outputPricePerMillion: number("output_price_per_million"),
  });
  const list = (field: (typeof listFields)[number], expected: string): string[] => {
    const value = entry[field] ?? [];
    if (Array.isArray(value) && value.every((item): item is string => typeof item === "string")) return value;
    wrongType(field, expected);
    return [];
  };
  const flag = (field: (typeof booleanFields)[number], fallback: boolean): boolean => {
    const value = entry[field] ?? fallback;
    if (typeof value === "boolean") return value;
    wrongType(field, "true or false");
    return fallback;
  };
  model.fallbacks = list("fallbacks", "a list of model names");
  model.allowedRequestFields = list("allowed_request_fields", "a list of request field names");
  model.capabilities = list("capabilities", "a list of capabilities (tools, images, json_schema, reasoning)");
  model.deployments = seedDeployments(entry["deployments"], `${where}.deployments`, () => mistyped.add("deployments"), problems);
  model.auto = seedAuto(entry["auto"], `${where}.auto`, () => mistyped.add("auto"), problems);
  model.enabled = flag("enabled", true);
  model.cacheSampled = flag("cache_sampled", false);
  // The registry's own rules ("base_url must be…") add what the types did not already say.
  for (const problem of validateModel(model)) {
    if (!mistyped.has(/^[a-z_]+/.exec(problem)?.[0] ?? "")) problems.push(`${where}.${problem}`);
  }
  return model;
}

/** `deployments:` — a list of `{provider, upstream_model, base_url, api_key_env, weight, name}`. */
function seedDeployments(value: unknown, where: string, mistyped: () => void, problems: string[]): Deployment[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    mistyped();
    problems.push(`${where} must be a list of deployments ({provider, upstream_model, base_url, api_key_env, weight, name}), got ${JSON.stringify(value)}`);
    return [];
  }
  return value.map((item: unknown, index) => {
    const at = `${where}[${index}]`;
    if (!isRecord(item)) {
      problems.push(`${at} must be an object with at least provider`);
      return create(DeploymentSchema);
    }
    for (const key of Object.keys(item)) {
      if (!(deploymentFields as readonly string[]).includes(key)) problems.push(`${at}.${key} is not a known field (known: ${deploymentFields.join(", ")})`);
    }
    const known = Object.fromEntries(Object.entries(item).filter(([key]) => (deploymentFields as readonly string[]).includes(key)));
    try {
      return fromJson(DeploymentSchema, known as JsonValue);
    } catch (error) {
      mistyped();
      problems.push(`${at}: ${error instanceof Error ? error.message : String(error)}`);
      return create(DeploymentSchema);
    }
  });
}

/** `auto:` — an `auto` router's settings (candidates, cost_weight, latency_weight, cost_threshold). */
function seedAuto(value: unknown, where: string, mistyped: () => void, problems: string[]): AutoRouting | undefined {
  if (value === undefined || value === null) return undefined;
  try {
    if (!isRecord(value)) throw new Error("must be an object (candidates, cost_weight, latency_weight, cost_threshold)");
    return fromJson(AutoRoutingSchema, value as JsonValue);
  } catch (error) {
    mistyped();
    problems.push(`${where}: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
