import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  AutoRoutingSchema,
  DeploymentSchema,
  type AutoRouting,
  type Deployment,
  type Model,
} from "../../../gen/iir/registry/v1/registry_pb.js";
import { registryProviders } from "../../common/providers.js";

/** Why `provider` is refused, with the names it may take; the value is cut so a huge one is not echoed. */
export function unknownProvider(field: string, provider: string): string {
  const shown = provider.length > 100 ? `${provider.slice(0, 100)}…` : provider;
  return `${field} must be one of ${[...registryProviders].join(", ")}, got "${shown}"`;
}

/** The strategies a model's `strategy` may name; "" is "ordered". */
export const deploymentStrategies = ["ordered", "weighted", "least-busy", "lowest-latency"] as const;
export type DeploymentStrategy = (typeof deploymentStrategies)[number];

/** What a model's `capabilities` may list: the needs `auto` routing filters requests by. */
export const modelCapabilities = ["tools", "images", "json_schema", "reasoning"] as const;

/** A deployment's label in logs, metrics and `x-iir-backend`: its name, else `<provider>/<upstream model>`. */
export function deploymentName(deployment: Deployment, model: Pick<Model, "name" | "upstreamModel">): string {
  return deployment.name || `${deployment.provider}/${deploymentUpstreamModel(deployment, model)}`;
}

/** The model name a deployment's upstream knows: its own, else the entry's upstream_model, else the entry's name. */
export function deploymentUpstreamModel(deployment: Deployment, model: Pick<Model, "name" | "upstreamModel">): string {
  return deployment.upstreamModel || model.upstreamModel || model.name;
}

/**
 * Every problem with the routing fields of a model (deployments, strategy, ttft_timeout_ms,
 * capabilities, auto), each naming its field as the proto spells it. `keyProblem` is the registry's
 * api_key_env rule, passed in so deployments meet exactly the entry's.
 */
export function deploymentProblems(model: Model, keyProblem: (variable: string) => string | undefined): string[] {
  const problems: string[] = [];
  if (model.strategy !== "" && !(deploymentStrategies as readonly string[]).includes(model.strategy)) {
    problems.push(`strategy must be one of ${deploymentStrategies.join(", ")} (or empty for ordered), got ${quoted(model.strategy)}`);
  }
  problems.push(...deploymentListProblems(model, keyProblem));
  if (!Number.isInteger(model.ttftTimeoutMs) || model.ttftTimeoutMs < 0) problems.push(`ttft_timeout_ms must be an integer >= 0, got ${model.ttftTimeoutMs}`);
  if (model.capabilities.length > modelCapabilities.length) {
    problems.push(`capabilities lists ${model.capabilities.length} entries: there are only ${modelCapabilities.length} (${modelCapabilities.join(", ")})`);
  } else {
    model.capabilities.forEach((capability, index) => {
      if (!(modelCapabilities as readonly string[]).includes(capability)) {
        problems.push(`capabilities[${index}] must be one of ${modelCapabilities.join(", ")}, got ${quoted(capability)}`);
      } else if (model.capabilities.indexOf(capability) !== index) problems.push(`capabilities[${index}] repeats "${capability}"`);
    });
  }
  // Only a router entry routes by its candidates: itself among them is a loop to refuse.
  if (model.auto !== undefined) problems.push(...autoProblems(model.auto, model.provider === routerProvider ? model.name : undefined));
  return problems;
}

/** Most deployments one model may list: each request orders them all, and each is a breaker. */
export const maxDeployments = 64;
/** Most candidates a router entry may list: each request resolves and scores them all. */
export const maxRouterCandidates = 256;
// Longest name, provider, upstream model, base URL or key variable of a deployment.
const maxFieldLength = 2048;
// A provider type of registry routers (`auto-cheap`): they pick a model, they serve none.
const routerProvider = "auto";

function deploymentListProblems(model: Model, keyProblem: (variable: string) => string | undefined): string[] {
  const problems: string[] = [];
  if (model.deployments.length === 0) return problems;
  // A router picks among its candidates: deployments on it would be silently ignored.
  if (model.provider === routerProvider) {
    problems.push(`deployments must be empty on a router entry (provider "${routerProvider}"): it routes to its auto.candidates`);
  }
  // One problem for the list, not one per deployment: the refusal stays readable (and small).
  if (model.deployments.length > maxDeployments) {
    problems.push(`deployments lists ${model.deployments.length} deployments: at most ${maxDeployments}`);
    return problems;
  }
  const names = new Map<string, number>();
  model.deployments.forEach((deployment, index) => {
    const where = `deployments[${index}]`;
    const long = (["name", "provider", "upstreamModel", "baseUrl", "apiKeyEnv"] as const).filter((field) => deployment[field].length > maxFieldLength);
    if (long.length > 0) {
      for (const field of long) problems.push(`${where}.${snakeCase(field)} is longer than ${maxFieldLength} characters`);
      return;
    }
    if (deployment.provider.trim() === "") problems.push(`${where}.provider must not be empty`);
    // A router as a deployment would route to itself (or to another router) on every request.
    else if (deployment.provider === routerProvider) {
      problems.push(`${where}.provider must name a provider that serves models, not "${routerProvider}": list models in a router entry's auto.candidates instead`);
    } else if (!registryProviders.has(deployment.provider)) problems.push(unknownProvider(`${where}.provider`, deployment.provider));
    if (deployment.baseUrl !== "" && !isHttpUrl(deployment.baseUrl)) problems.push(`${where}.base_url must be an http(s) URL`);
    const variableProblem = keyProblem(deployment.apiKeyEnv);
    if (variableProblem !== undefined) problems.push(`${where}.${variableProblem}`);
    if (!Number.isInteger(deployment.weight) || deployment.weight < 0) problems.push(`${where}.weight must be an integer >= 0, got ${deployment.weight}`);
    const name = deploymentName(deployment, model);
    const earlier = names.get(name);
    if (earlier !== undefined) {
      problems.push(`${where}.name "${name}" is also the name of deployments[${earlier}]: give deployments of one provider and model distinct names`);
    } else names.set(name, index);
  });
  return problems;
}

function autoProblems(auto: AutoRouting, router: string | undefined): string[] {
  const problems: string[] = [];
  if (auto.candidates.length > maxRouterCandidates) {
    problems.push(`auto.candidates lists ${auto.candidates.length} models: at most ${maxRouterCandidates}`);
  } else {
    auto.candidates.forEach((candidate, index) => {
      if (candidate.trim() === "") problems.push(`auto.candidates[${index}] must not be empty`);
      else if (candidate.length > maxFieldLength) problems.push(`auto.candidates[${index}] is longer than ${maxFieldLength} characters`);
      else if (candidate === router) problems.push(`auto.candidates[${index}] must not name the router itself`);
    });
  }
  for (const [field, value] of [["cost_weight", auto.costWeight], ["latency_weight", auto.latencyWeight], ["cost_threshold", auto.costThreshold]] as const) {
    if (!Number.isFinite(value) || value < 0) problems.push(`auto.${field} must be a number >= 0, got ${value}`);
  }
  return problems;
}

/** Deployments as the registry stores them: a JSON array of proto JSON objects with proto field names. */
export function deploymentsToText(deployments: readonly Deployment[]): string {
  return JSON.stringify(deployments.map((deployment) => toJson(DeploymentSchema, deployment, { useProtoFieldName: true })));
}

/** Reads stored deployments; a hand-edited value that is not a list of deployments is an Internal error. */
export function deploymentsFromText(text: string, what: string): Deployment[] {
  const value = parseJson(text, what);
  if (!Array.isArray(value)) throw new ConnectError(`${what} is not a JSON array of deployments: ${text}`, Code.Internal);
  return value.map((item) => decode(() => fromJson(DeploymentSchema, item as JsonValue), what));
}

/** An `auto` router's settings as stored: proto JSON, or null when there are none. */
export function autoToText(auto: AutoRouting | undefined): string | null {
  return auto === undefined ? null : JSON.stringify(toJson(AutoRoutingSchema, auto, { useProtoFieldName: true }));
}

/** Reads a stored `auto`; null is none. */
export function autoFromText(text: string | null, what: string): AutoRouting | undefined {
  if (text === null) return undefined;
  const value = parseJson(text, what);
  return decode(() => fromJson(AutoRoutingSchema, value as JsonValue), what);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ConnectError(`${what} is not JSON: ${text}`, Code.Internal);
  }
}

function decode<T>(read: () => T, what: string): T {
  try {
    return read();
  } catch (error) {
    throw new ConnectError(`${what} cannot be read: ${error instanceof Error ? error.message : String(error)}`, Code.Internal);
  }
}

/** A value quoted in a refusal, cut short: the message may be logged and is sent back. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
}

function snakeCase(camel: string): string {
  return camel.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}
