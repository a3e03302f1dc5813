import type { ProviderModel } from "../adapter.js";
import { isRecord, stringOr } from "../openai-compatible/json-guards.js";

/** `models/<model>`, the resource name Gemini's URLs and bodies use; a name given with the prefix keeps it. */
export function googleModelName(model: string): string {
  return model.startsWith("models/") || model.startsWith("tunedModels/") ? model : `models/${model}`;
}

/** One page of `GET models`: its models (the `models/` prefix stripped) and the next page's token. */
export function modelsPageFromGoogle(json: unknown): { models: ProviderModel[]; nextPageToken: string } {
  if (!isRecord(json)) throw new Error("google's model list is not a JSON object");
  const models: ProviderModel[] = [];
  for (const entry of Array.isArray(json.models) ? json.models : []) {
    if (!isRecord(entry) || typeof entry.name !== "string" || entry.name === "") continue;
    models.push({
      id: entry.name.startsWith("models/") ? entry.name.slice("models/".length) : entry.name,
      ownedBy: "google",
      contextLength: typeof entry.inputTokenLimit === "number" && Number.isFinite(entry.inputTokenLimit) ? Math.trunc(entry.inputTokenLimit) : undefined,
    });
  }
  return { models, nextPageToken: stringOr(json.nextPageToken, "") };
}
