import type { ChatTarget, ProviderModel } from "../adapter.js";
import type { UpstreamClient } from "../upstream/upstream-client.js";
import { upstreamGet } from "../upstream/upstream-get.js";
import { isRecord, parseJsonOrUndefined } from "./json-guards.js";

/**
 * `GET {base}/models` of an OpenAI-compatible provider → its models (`data[].id`, with `created`,
 * `owned_by` and, where the provider says, `context_length` as OpenRouter does). Throws for a non-2xx
 * answer or a body that is not such a list; the message names the provider and status only.
 */
export async function listOpenAIModels(client: UpstreamClient, target: ChatTarget, signal: AbortSignal): Promise<ProviderModel[]> {
  const auth = target.apiKey === undefined ? undefined : { authorization: `Bearer ${target.apiKey}` };
  const answer = await upstreamGet(client, target, "/models", auth, signal);
  if (answer.status < 200 || answer.status > 299) throw new Error(`${target.provider} answered its model list with HTTP ${answer.status}`);
  return providerModelsFromOpenAI(parseJsonOrUndefined(answer.body), target.provider);
}

/** OpenAI's `{"object":"list","data":[{id,created,owned_by}]}` → provider models; entries without an id are skipped. */
export function providerModelsFromOpenAI(json: unknown, provider: string): ProviderModel[] {
  if (!isRecord(json) || !Array.isArray(json.data)) throw new Error(`${provider}'s model list is not OpenAI's {"data": [...]}`);
  const models: ProviderModel[] = [];
  for (const entry of json.data) {
    if (!isRecord(entry) || typeof entry.id !== "string" || entry.id === "") continue;
    models.push({
      id: entry.id,
      created: typeof entry.created === "number" && Number.isFinite(entry.created) ? Math.trunc(entry.created) : undefined,
      ownedBy: typeof entry.owned_by === "string" ? entry.owned_by : undefined,
      contextLength: typeof entry.context_length === "number" && Number.isFinite(entry.context_length) ? Math.trunc(entry.context_length) : undefined,
    });
  }
  return models;
}
