import { Code, ConnectError } from "@connectrpc/connect";
import type { ProviderModel } from "../adapter.js";
import { isRecord, parseJsonOrUndefined } from "../openai-compatible/json-guards.js";

// The largest page Anthropic serves; few pages then cover every model.
const pageSize = 1000;

/** The path of one page of `GET /v1/models` (under the version prefix), after the model `after`. */
export function modelsPath(after: string | undefined): string {
  return after === undefined ? `/models?limit=${pageSize}` : `/models?limit=${pageSize}&after_id=${encodeURIComponent(after)}`;
}

/** One page of the model list: its models, and where the next page starts. */
export interface AnthropicModelsPage {
  readonly models: ProviderModel[];
  readonly hasMore: boolean;
  readonly lastId: string | undefined;
}

/**
 * A page of `{"data":[{id, display_name, created_at, type}], has_more, first_id, last_id}`. The RFC 3339
 * `created_at` becomes Unix seconds; Anthropic owns every model it lists.
 */
export function modelPageFromAnthropic(body: string): AnthropicModelsPage {
  const json = parseJsonOrUndefined(body);
  if (!isRecord(json) || !Array.isArray(json.data)) throw new ConnectError("anthropic upstream returned malformed response: the model list has no data", Code.Unavailable);
  const models: ProviderModel[] = [];
  for (const entry of json.data) {
    if (!isRecord(entry) || typeof entry.id !== "string" || entry.id === "") continue;
    const created = typeof entry.created_at === "string" ? Date.parse(entry.created_at) : Number.NaN;
    models.push(Number.isFinite(created) ? { id: entry.id, created: Math.floor(created / 1000), ownedBy: "anthropic" } : { id: entry.id, ownedBy: "anthropic" });
  }
  return { models, hasMore: json.has_more === true, lastId: typeof json.last_id === "string" && json.last_id !== "" ? json.last_id : undefined };
}
