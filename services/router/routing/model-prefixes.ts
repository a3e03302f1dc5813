/**
 * Bare model names as SDK users type them (`gpt-4o-mini`, `claude-sonnet-4-5`), and the provider
 * each belongs to. Routing uses this only when no registry entry and no live agent claims the name,
 * and only for a provider present in the configuration. Kept small on purpose: a prefix is here only
 * when one provider alone publishes models under it. Open-weight families (`llama-`, `mixtral-`,
 * `qwen`…) are served by many providers and by agents, so they have no default provider.
 */
export interface ModelPrefix {
  /** The name starts with this, or (`exact`) is this. */
  readonly prefix: string;
  readonly exact?: boolean;
  /** A provider name of the configuration (`openai`, `anthropic`, `google`, `xai`). */
  readonly provider: string;
}

export const modelPrefixes: readonly ModelPrefix[] = [
  { prefix: "gpt-", provider: "openai" },
  { prefix: "chatgpt-", provider: "openai" },
  { prefix: "o1", exact: true, provider: "openai" },
  { prefix: "o1-", provider: "openai" },
  { prefix: "o3", exact: true, provider: "openai" },
  { prefix: "o3-", provider: "openai" },
  { prefix: "o4-", provider: "openai" },
  { prefix: "text-embedding-3-", provider: "openai" },
  { prefix: "text-embedding-ada-", provider: "openai" },
  { prefix: "davinci-", provider: "openai" },
  { prefix: "babbage-", provider: "openai" },
  { prefix: "claude-", provider: "anthropic" },
  { prefix: "gemini-", provider: "google" },
  { prefix: "text-embedding-004", exact: true, provider: "google" },
  { prefix: "grok-", provider: "xai" },
];

/** The provider a bare model name belongs to by the table; undefined for a name no entry claims. */
export function providerForBareName(model: string, table: readonly ModelPrefix[] = modelPrefixes): string | undefined {
  // A name with a slash is `<provider>/<model>` or a registry name, never a bare one.
  if (model.includes("/")) return undefined;
  let best: ModelPrefix | undefined;
  for (const entry of table) {
    const matches = entry.exact === true ? model === entry.prefix : model.startsWith(entry.prefix) && model.length > entry.prefix.length;
    if (matches && (best === undefined || entry.prefix.length > best.prefix.length)) best = entry;
  }
  return best?.provider;
}
