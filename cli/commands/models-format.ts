import { toJson, type JsonObject } from "@bufbuild/protobuf";
import { AutoRoutingSchema, type Deployment, type Model } from "../../gen/iir/registry/v1/registry_pb.js";
import { redactUrl, redactUrlCredentialsIn } from "../../services/common/redact-url.js";
import { deploymentName } from "../../services/router/registry/model-deployments.js";

/**
 * A model as plain JSON with the registry's snake_case field names and numeric timestamps, the same
 * shape `iir seed` reads, so `iir models list --json` output can be seeded elsewhere. Base URLs are
 * shown with any user name, password or key-like query value as `***` (output lands in terminals,
 * scrollback and CI logs); an entry whose URL carries credentials must have them set again where
 * it is seeded.
 */
export interface PlainModel {
  name: string;
  provider: string;
  base_url: string;
  upstream_model: string;
  api_key_env: string;
  fallbacks: string[];
  context_length: number;
  input_price_per_million: number;
  output_price_per_million: number;
  enabled: boolean;
  /** Request fields that change billing or routing at the provider that this entry lets through. */
  allowed_request_fields: string[];
  /** Whether answers to sampling requests are cached too. */
  cache_sampled: boolean;
  /** Where the model is served when not (only) at the fields above. */
  deployments: PlainDeployment[];
  /** How a deployment is chosen; "" is ordered. */
  strategy: string;
  ttft_timeout_ms: number;
  capabilities: string[];
  /** An `auto` router's settings (proto JSON), or null. */
  auto: JsonObject | null;
  created_at: number;
  updated_at: number;
}

/** A deployment as plain JSON, in the seed file's field names. */
export interface PlainDeployment {
  name: string;
  provider: string;
  upstream_model: string;
  base_url: string;
  api_key_env: string;
  weight: number;
}

function deploymentToPlain(deployment: Deployment): PlainDeployment {
  return {
    name: deployment.name,
    provider: deployment.provider,
    upstream_model: deployment.upstreamModel,
    base_url: shownUrl(deployment.baseUrl),
    api_key_env: deployment.apiKeyEnv,
    weight: deployment.weight,
  };
}

/** Converts a proto Model to its plain JSON shape. */
export function modelToPlain(model: Model): PlainModel {
  return {
    name: model.name,
    provider: model.provider,
    base_url: shownUrl(model.baseUrl),
    upstream_model: model.upstreamModel,
    api_key_env: model.apiKeyEnv,
    fallbacks: [...model.fallbacks],
    context_length: model.contextLength,
    input_price_per_million: model.inputPricePerMillion,
    output_price_per_million: model.outputPricePerMillion,
    enabled: model.enabled,
    allowed_request_fields: [...model.allowedRequestFields],
    cache_sampled: model.cacheSampled,
    deployments: model.deployments.map(deploymentToPlain),
    strategy: model.strategy,
    ttft_timeout_ms: model.ttftTimeoutMs,
    capabilities: [...model.capabilities],
    auto: model.auto === undefined ? null : (toJson(AutoRoutingSchema, model.auto, { useProtoFieldName: true }) as JsonObject),
    created_at: Number(model.createdAt),
    updated_at: Number(model.updatedAt),
  };
}

const columns: ReadonlyArray<readonly [string, (model: Model) => string]> = [
  ["NAME", (model) => model.name],
  ["PROVIDER", (model) => model.provider],
  ["UPSTREAM", (model) => model.upstreamModel || "-"],
  ["BASE URL", (model) => shownUrl(model.baseUrl) || "-"],
  ["KEY ENV", (model) => model.apiKeyEnv || "-"],
  ["CONTEXT", (model) => (model.contextLength > 0 ? String(model.contextLength) : "-")],
  ["$IN/M", (model) => String(model.inputPricePerMillion)],
  ["$OUT/M", (model) => String(model.outputPricePerMillion)],
  ["DEPLOYMENTS", (model) => (model.deployments.length === 0 ? "-" : `${model.deployments.map((deployment) => deploymentName(deployment, model)).join(",")} (${model.strategy || "ordered"})`)],
  ["CAPABILITIES", (model) => model.capabilities.join(",") || "-"],
  ["ENABLED", (model) => (model.enabled ? "yes" : "no")],
  ["CACHE SAMPLED", (model) => (model.cacheSampled ? "yes" : "no")],
  ["ALLOWED FIELDS", (model) => model.allowedRequestFields.join(",") || "-"],
  ["FALLBACKS", (model) => model.fallbacks.join(",") || "-"],
];

/** Lines of an aligned, human-readable table of models, headed by column names. */
export function formatModelTable(models: readonly Model[]): string[] {
  const cells = [columns.map(([title]) => title), ...models.map((model) => columns.map(([, cell]) => cell(model)))];
  const widths = columns.map((_, index) => Math.max(...cells.map((row) => (row[index] ?? "").length)));
  return cells.map((row) =>
    row
      .map((cell, index) => (index === row.length - 1 ? cell : cell.padEnd(widths[index] ?? 0)))
      .join("  ")
      .trimEnd(),
  );
}

/** `iir models show NAME`: one field a line, then each deployment. */
export function formatModelDetails(model: Model): string[] {
  const lines = [
    `name:                   ${model.name}`,
    `provider:               ${model.provider}`,
    `upstream model:         ${model.upstreamModel || "-"}`,
    `base URL:               ${shownUrl(model.baseUrl) || "-"}`,
    `key variable:           ${model.apiKeyEnv || "-"}`,
    `enabled:                ${model.enabled ? "yes" : "no"}`,
    `context length:         ${model.contextLength > 0 ? model.contextLength : "-"}`,
    `prices ($/M in, out):   ${model.inputPricePerMillion}, ${model.outputPricePerMillion}`,
    `fallbacks:              ${model.fallbacks.join(", ") || "-"}`,
    `allowed request fields: ${model.allowedRequestFields.join(", ") || "-"}`,
    `cache sampled:          ${model.cacheSampled ? "yes" : "no"}`,
    `capabilities:           ${model.capabilities.join(", ") || "-"}`,
    `ttft timeout:           ${model.ttftTimeoutMs > 0 ? `${model.ttftTimeoutMs} ms` : "- (router default)"}`,
    `strategy:               ${model.strategy || "ordered"}`,
    `deployments:            ${model.deployments.length === 0 ? "- (the provider fields above)" : model.deployments.length}`,
  ];
  model.deployments.forEach((deployment, index) => {
    const parts = [
      `provider=${deployment.provider}`,
      `model=${deployment.upstreamModel || model.upstreamModel || model.name}`,
      `base-url=${shownUrl(deployment.baseUrl) || "(provider's)"}`,
      `key-env=${deployment.apiKeyEnv || "(provider's)"}`,
      `weight=${deployment.weight > 0 ? deployment.weight : 1}`,
    ];
    lines.push(`  ${index + 1}. ${deploymentName(deployment, model)}: ${parts.join(" ")}`);
  });
  if (model.auto !== undefined) {
    const auto = model.auto;
    lines.push(`auto candidates:        ${auto.candidates.join(", ") || "(every enabled model)"}`);
    lines.push(`auto weights:           cost ${auto.costWeight}, latency ${auto.latencyWeight}, cost threshold ${auto.costThreshold}`);
  }
  return lines;
}

/** A base URL as the CLI shows it: credentials in it (user:password@, ?key=…) as `***`; "" stays "". */
function shownUrl(url: string): string {
  if (url === "") return "";
  const redacted = redactUrl(url, redactUrlCredentialsIn(url));
  // Nothing to hide: the URL exactly as stored (parsing would add a trailing slash to a bare host).
  return URL.canParse(url) && new URL(url).toString() === redacted ? url : redacted;
}
