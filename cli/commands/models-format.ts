import type { Model } from "../../gen/iir/registry/v1/registry_pb.js";

/**
 * A model as plain JSON with the registry's snake_case field names and numeric timestamps, the same
 * shape `iir seed` reads, so `iir models list --json` output can be seeded elsewhere.
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
  created_at: number;
  updated_at: number;
}

/** Converts a proto Model to its plain JSON shape. */
export function modelToPlain(model: Model): PlainModel {
  return {
    name: model.name,
    provider: model.provider,
    base_url: model.baseUrl,
    upstream_model: model.upstreamModel,
    api_key_env: model.apiKeyEnv,
    fallbacks: [...model.fallbacks],
    context_length: model.contextLength,
    input_price_per_million: model.inputPricePerMillion,
    output_price_per_million: model.outputPricePerMillion,
    enabled: model.enabled,
    allowed_request_fields: [...model.allowedRequestFields],
    cache_sampled: model.cacheSampled,
    created_at: Number(model.createdAt),
    updated_at: Number(model.updatedAt),
  };
}

const columns: ReadonlyArray<readonly [string, (model: Model) => string]> = [
  ["NAME", (model) => model.name],
  ["PROVIDER", (model) => model.provider],
  ["UPSTREAM", (model) => model.upstreamModel || "-"],
  ["BASE URL", (model) => model.baseUrl || "-"],
  ["KEY ENV", (model) => model.apiKeyEnv || "-"],
  ["CONTEXT", (model) => (model.contextLength > 0 ? String(model.contextLength) : "-")],
  ["$IN/M", (model) => String(model.inputPricePerMillion)],
  ["$OUT/M", (model) => String(model.outputPricePerMillion)],
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
