import { create } from "@bufbuild/protobuf";
import { registryProviders } from "../../common/providers.js";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Insertable, Kysely, Selectable } from "kysely";
import { ModelSchema, type Model } from "../../../gen/iir/registry/v1/registry_pb.js";
import { redactUrlCredentialsIn } from "../../common/redact-url.js";
import { autoFromText, autoToText, deploymentProblems, unknownProvider, deploymentsFromText, deploymentsToText } from "./model-deployments.js";
import type { Database, ModelsTable } from "./schema.js";

/** Finds one model by name, enabled or not. */
export async function getModel(db: Kysely<Database>, name: string): Promise<Model | undefined> {
  const row = await db.selectFrom("models").selectAll().where("name", "=", name).executeTakeFirst();
  return row === undefined ? undefined : modelFromRow(row);
}

/** Every model, enabled or not, ordered by name. */
export async function listModels(db: Kysely<Database>): Promise<Model[]> {
  const rows = await db.selectFrom("models").selectAll().orderBy("name").execute();
  return rows.map(modelFromRow);
}

/**
 * Inserts or replaces a model, keeping `created_at` of an existing one; the model's own timestamps
 * are ignored. Throws ConnectError(InvalidArgument) naming every invalid field. Returns the stored model.
 */
export async function upsertModel(db: Kysely<Database>, model: Model, now: number = Date.now()): Promise<Model> {
  const problems = validateModel(model);
  if (problems.length > 0) {
    throw new ConnectError(`invalid model: ${problems.join("; ")}`, Code.InvalidArgument);
  }
  const row = modelToRow(model, now);
  const { name: _name, created_at: _createdAt, ...changes } = row;
  await db
    .insertInto("models")
    .values(row)
    .onConflict((conflict) => conflict.column("name").doUpdateSet(changes))
    .execute();
  const stored = await getModel(db, model.name);
  if (stored === undefined) throw new ConnectError(`model "${model.name}" vanished after upsert`, Code.Aborted);
  return stored;
}

/** Deletes a model; returns whether it existed. */
export async function deleteModel(db: Kysely<Database>, name: string): Promise<boolean> {
  const result = await db.deleteFrom("models").where("name", "=", name).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/**
 * Every problem with a model, each naming its field as the proto spells it (`base_url`…); empty
 * when the model may be stored. Exported so that bulk loaders can report all problems before writing.
 */
export function validateModel(model: Model): string[] {
  const problems: string[] = [];
  if (model.name.trim() === "") problems.push("name must not be empty");
  else if (model.name.trim() !== model.name) problems.push(`name must not start or end with spaces, got "${model.name}"`);
  if (model.provider.trim() === "") problems.push("provider must not be empty");
  else if (!registryProviders.has(model.provider)) problems.push(unknownProvider("provider", model.provider));
  if (model.baseUrl !== "" && !isHttpUrl(model.baseUrl)) {
    // The refusal may be logged: credentials in the URL stay out of it.
    problems.push(`base_url must be an http(s) URL, got "${redactUrlCredentialsIn(model.baseUrl)}"`);
  }
  if (!Number.isInteger(model.contextLength) || model.contextLength < 0) {
    problems.push(`context_length must be an integer >= 0, got ${model.contextLength}`);
  }
  for (const field of ["inputPricePerMillion", "outputPricePerMillion"] as const) {
    const value = model[field];
    if (!Number.isFinite(value) || value < 0) problems.push(`${snakeCase(field)} must be a number >= 0, got ${value}`);
  }
  model.fallbacks.forEach((fallback, index) => {
    if (fallback.trim() === "") problems.push(`fallbacks[${index}] must not be empty`);
    else if (fallback === model.name) problems.push(`fallbacks[${index}] must not name the model itself`);
  });
  const keyProblem = apiKeyEnvProblem(model.apiKeyEnv);
  if (keyProblem !== undefined) problems.push(keyProblem);
  model.allowedRequestFields.forEach((field, index) => {
    if (!requestFieldName.test(field)) problems.push(`allowed_request_fields[${index}] must be a request field name such as service_tier, got "${field}"`);
    else if (model.allowedRequestFields.indexOf(field) !== index) problems.push(`allowed_request_fields[${index}] repeats "${field}"`);
  });
  problems.push(...deploymentProblems(model, apiKeyEnvProblem));
  return problems;
}

// Provider keys live only in variables of this prefix, so a registry entry (which anyone with the
// admin token can write) cannot make IIR send another secret of its environment to an upstream.
const apiKeyVariable = /^EXTERNAL_[A-Za-z0-9_]+$/;
// A request field (service_tier), or a provider-run tool type as `tools:<type>` (tools:openrouter:web_search).
const requestFieldName = /^(?:[A-Za-z0-9_.-]{1,64}|tools:[A-Za-z0-9_.:-]{1,64})$/;

/**
 * Why a model's `api_key_env` may not name `variable`; undefined when it may (or is empty). Only
 * `EXTERNAL_*` variables may hold provider keys: checked when an entry is written and again when it
 * is used, so a hand-edited registry never makes IIR read another variable.
 */
export function apiKeyEnvProblem(variable: string): string | undefined {
  if (variable === "" || apiKeyVariable.test(variable)) return undefined;
  return `api_key_env must name an EXTERNAL_* environment variable (IIR reads provider keys from those alone), got "${variable}"`;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

function snakeCase(camel: string): string {
  return camel.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

function modelToRow(model: Model, now: number): Insertable<ModelsTable> {
  return {
    name: model.name,
    provider: model.provider,
    base_url: model.baseUrl,
    upstream_model: model.upstreamModel,
    api_key_env: model.apiKeyEnv,
    fallbacks: JSON.stringify(model.fallbacks),
    context_length: model.contextLength,
    input_price_per_million: model.inputPricePerMillion,
    output_price_per_million: model.outputPricePerMillion,
    enabled: model.enabled ? 1 : 0,
    created_at: now,
    updated_at: now,
    allowed_request_fields: JSON.stringify(model.allowedRequestFields),
    cache_sampled: model.cacheSampled ? 1 : 0,
    deployments: deploymentsToText(model.deployments),
    strategy: model.strategy,
    ttft_timeout_ms: model.ttftTimeoutMs,
    capabilities: JSON.stringify(model.capabilities),
    auto: autoToText(model.auto),
  };
}

/** Converts a stored row to the proto Model. */
export function modelFromRow(row: Selectable<ModelsTable>): Model {
  return create(ModelSchema, {
    name: row.name,
    provider: row.provider,
    baseUrl: row.base_url,
    upstreamModel: row.upstream_model,
    apiKeyEnv: row.api_key_env,
    fallbacks: parseStringList(row.fallbacks, `models.fallbacks of "${row.name}"`),
    contextLength: Number(row.context_length),
    inputPricePerMillion: Number(row.input_price_per_million),
    outputPricePerMillion: Number(row.output_price_per_million),
    enabled: Boolean(Number(row.enabled)),
    createdAt: BigInt(row.created_at),
    updatedAt: BigInt(row.updated_at),
    allowedRequestFields: parseStringList(row.allowed_request_fields, `models.allowed_request_fields of "${row.name}"`),
    cacheSampled: Boolean(Number(row.cache_sampled)),
    deployments: deploymentsFromText(row.deployments, `models.deployments of "${row.name}"`),
    strategy: row.strategy,
    ttftTimeoutMs: Number(row.ttft_timeout_ms),
    capabilities: parseStringList(row.capabilities, `models.capabilities of "${row.name}"`),
    auto: autoFromText(row.auto, `models.auto of "${row.name}"`),
  });
}

/** Parses a JSON text array of strings; a hand-edited row that is not one is an Internal error. */
export function parseStringList(text: string, what: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === "string")) {
    throw new ConnectError(`${what} is not a JSON array of strings: ${text}`, Code.Internal);
  }
  return value;
}
