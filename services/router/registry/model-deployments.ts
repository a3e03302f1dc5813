import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  AutoRoutingSchema,
  DeploymentSchema,
  type AutoRouting,
  type Deployment,
  type Model,
} from "../../../gen/iir/registry/v1/registry_pb.js";

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
    problems.push(`strategy must be one of ${deploymentStrategies.join(", ")} (or empty for ordered), got "${model.strategy}"`);
  }
  const names = new Map<string, number>();
  model.deployments.forEach((deployment, index) => {
    const where = `deployments[${index}]`;
    if (deployment.provider.trim() === "") problems.push(`${where}.provider must not be empty`);
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
  if (!Number.isInteger(model.ttftTimeoutMs) || model.ttftTimeoutMs < 0) problems.push(`ttft_timeout_ms must be an integer >= 0, got ${model.ttftTimeoutMs}`);
  model.capabilities.forEach((capability, index) => {
    if (!(modelCapabilities as readonly string[]).includes(capability)) {
      problems.push(`capabilities[${index}] must be one of ${modelCapabilities.join(", ")}, got "${capability}"`);
    } else if (model.capabilities.indexOf(capability) !== index) problems.push(`capabilities[${index}] repeats "${capability}"`);
  });
  if (model.auto !== undefined) problems.push(...autoProblems(model.auto));
  return problems;
}

function autoProblems(auto: AutoRouting): string[] {
  const problems: string[] = [];
  auto.candidates.forEach((candidate, index) => {
    if (candidate.trim() === "") problems.push(`auto.candidates[${index}] must not be empty`);
  });
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

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}
