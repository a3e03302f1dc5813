import { create } from "@bufbuild/protobuf";
import { DeploymentSchema, type Deployment } from "../../gen/iir/registry/v1/registry_pb.js";

/** The keys of a `--deployment` value, and the Deployment field each sets. */
const deploymentKeys = {
  name: "name",
  provider: "provider",
  model: "upstreamModel",
  "upstream-model": "upstreamModel",
  "base-url": "baseUrl",
  "key-env": "apiKeyEnv",
  "api-key-env": "apiKeyEnv",
  weight: "weight",
} as const satisfies Record<string, keyof Omit<Deployment, "$typeName" | "$unknown">>;

/**
 * Parses `--deployment provider=azure,model=gpt-4o,base-url=…,key-env=EXTERNAL_AZURE_KEY,weight=2,name=east`.
 * Problems are added to `problems` (prefixed by the flag), so every bad flag is reported together.
 */
export function parseDeploymentFlag(text: string, index: number, problems: string[]): Deployment {
  const deployment = create(DeploymentSchema);
  const where = `--deployment #${index + 1}`;
  for (const pair of text.split(",")) {
    if (pair.trim() === "") continue;
    const equals = pair.indexOf("=");
    const key = (equals < 0 ? pair : pair.slice(0, equals)).trim();
    const value = equals < 0 ? "" : pair.slice(equals + 1).trim();
    if (!Object.hasOwn(deploymentKeys, key)) {
      problems.push(`${where}: unknown key "${key}" (known: ${Object.keys(deploymentKeys).join(", ")})`);
      continue;
    }
    if (equals < 0) {
      problems.push(`${where}: "${key}" needs a value (${key}=…)`);
      continue;
    }
    const field = deploymentKeys[key as keyof typeof deploymentKeys];
    if (field === "weight") {
      const weight = value === "" ? Number.NaN : Number(value);
      if (!Number.isInteger(weight) || weight < 0 || weight > 2 ** 31 - 1) problems.push(`${where}: weight must be an integer >= 0, got "${value}"`);
      else deployment.weight = weight;
    } else deployment[field] = value;
  }
  if (deployment.provider === "") problems.push(`${where}: provider=… is required`);
  return deployment;
}

/** `--ttft-timeout`: milliseconds (`1500`, `1500ms`) or seconds (`30s`, `1.5s`); undefined when unreadable. */
export function parseTtftTimeout(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$/.exec(text);
  if (match === null) return undefined;
  const milliseconds = Number(match[1]) * (match[2] === "s" ? 1000 : 1);
  return Number.isInteger(milliseconds) && milliseconds <= 2 ** 31 - 1 ? milliseconds : undefined;
}
