import type { JsonObject } from "@bufbuild/protobuf";

/**
 * Request fields that change what a request costs or where it is served at a provider, beyond the
 * model the registry chose: a price tier, a paid add-on (web search), the provider's own fallback
 * list or routing, or an account-level side effect. A client's request may carry them only when the
 * model's registry entry lists them in `allowed_request_fields`; otherwise they are dropped before
 * the request leaves. Fields that only spend more tokens of the chosen model (max_tokens, n,
 * reasoning_effort, prediction) are not here: token rate limits and usage already cover them.
 *
 * Sources: OpenAI's chat completions reference (the `openai` SDK's ChatCompletionCreateParams),
 * Groq's service tiers and Compound docs, OpenRouter's request schema, provider routing, web search
 * and presets docs, and Venice's API spec.
 */
export const controlledRequestFields: Readonly<Record<string, readonly string[]>> = {
  openai: [
    // 'priority' is billed above the standard price, 'flex' and 'scale' are other tiers of the account.
    "service_tier",
    // Stores the conversation in IIR's OpenAI organisation (dashboard, distillation, evals). The
    // `metadata` that tags stored completions is inert without it, so it stays free.
    "store",
    // The web search tool, billed per call on top of tokens.
    "web_search_options",
  ],
  groq: [
    // on_demand, flex, performance (an enterprise tier), auto.
    "service_tier",
    // Picks the models and the paid built-in tools (web search, code execution) a Compound system uses.
    "compound_custom",
  ],
  openrouter: [
    // Its own fallback list and routing: other models than the registry chose, at their prices.
    "models",
    "route",
    // Provider routing: order, fallbacks, price ceilings, data collection and ZDR policy.
    "provider",
    // Prompt rewriting (middle-out compression) before it reaches the model.
    "transforms",
    // The web plugin ($4 per 1,000 results) and file parsing, billed to IIR's account.
    "plugins",
    // A saved preset can set the model and provider routing.
    "preset",
    // Native web search, billed per request.
    "web_search_options",
  ],
  venice: [
    // Web search, X search and web scraping (paid), characters and Venice's system prompt.
    "venice_parameters",
  ],
  // The operator's own cluster: nothing there is billed per request.
  "llm-d": [],
};

// A provider type without a list of its own (an `openai-compatible` registry entry) could be any
// of them behind a proxy: every field that moves money somewhere is held back.
const everyControlledField: readonly string[] = [...new Set(Object.values(controlledRequestFields).flat())];

/** The controlled fields of a provider type; a type without its own list gets every list. */
export function controlledFieldsOf(provider: string): readonly string[] {
  return Object.hasOwn(controlledRequestFields, provider) ? controlledRequestFields[provider]! : everyControlledField;
}

/** The request's extras without the controlled fields the registry entry does not allow, and which were dropped. */
export interface FilteredExtra {
  readonly extra: JsonObject;
  /** Names of the fields left out, in the order of the provider's list; empty when nothing was. */
  readonly dropped: readonly string[];
}

/**
 * Drops from `extra` the provider's controlled fields that are not in `allowed`. Returns `extra`
 * itself when nothing is dropped (the usual case), else a copy without them.
 */
export function withoutControlledFields(extra: JsonObject, provider: string, allowed: readonly string[] = []): FilteredExtra {
  let dropped: string[] | undefined;
  for (const field of controlledFieldsOf(provider)) {
    if (Object.hasOwn(extra, field) && !allowed.includes(field)) (dropped ??= []).push(field);
  }
  if (dropped === undefined) return { extra, dropped: [] };
  // Spread defines own properties, so even a field named `__proto__` is copied as data, not as a prototype.
  const kept: JsonObject = { ...extra };
  for (const field of dropped) delete kept[field];
  return { extra: kept, dropped };
}
