// The providers IIR knows by name: where each one's base URL and key are configured.

/** An OpenAI-compatible provider reachable by `<provider>/<model>` naming. */
export interface ProviderConfig {
  readonly name: string;
  /** Undefined when the variable naming it is unset and the provider has no public default. */
  readonly baseUrl: string | undefined;
  readonly baseUrlVariable: string;
  readonly apiKey: string | undefined;
  readonly apiKeyVariable: string;
  /** Whether requests without a key are refused before they leave (hosted APIs need one). */
  readonly keyRequired: boolean;
}

/** The providers, their variables and public defaults; loadConfig reads them into ProviderConfig. */
export const providerTable = [
  { name: "openai", baseUrlVariable: "OPENAI_BASE_URL", defaultBaseUrl: "https://api.openai.com/v1", apiKeyVariable: "EXTERNAL_OPENAI_KEY", keyRequired: true },
  { name: "llm-d", baseUrlVariable: "LLMD_ENDPOINT", defaultBaseUrl: undefined, apiKeyVariable: "EXTERNAL_LLMD_KEY", keyRequired: false },
  { name: "openrouter", baseUrlVariable: "OPENROUTER_BASE_URL", defaultBaseUrl: "https://openrouter.ai/api/v1", apiKeyVariable: "EXTERNAL_OPENROUTER_KEY", keyRequired: true },
  { name: "groq", baseUrlVariable: "GROQ_BASE_URL", defaultBaseUrl: "https://api.groq.com/openai/v1", apiKeyVariable: "EXTERNAL_GROQ_KEY", keyRequired: true },
  { name: "venice", baseUrlVariable: "VENICE_BASE_URL", defaultBaseUrl: "https://api.venice.ai/api/v1", apiKeyVariable: "EXTERNAL_VENICE_KEY", keyRequired: true },
  // Anthropic's Messages API (its own adapter); the SDK's convention: the base URL without /v1.
  { name: "anthropic", baseUrlVariable: "ANTHROPIC_BASE_URL", defaultBaseUrl: "https://api.anthropic.com", apiKeyVariable: "EXTERNAL_ANTHROPIC_KEY", keyRequired: true },
  { name: "xai", baseUrlVariable: "XAI_BASE_URL", defaultBaseUrl: "https://api.x.ai/v1", apiKeyVariable: "EXTERNAL_XAI_KEY", keyRequired: true },
  { name: "google", baseUrlVariable: "GOOGLE_BASE_URL", defaultBaseUrl: "https://generativelanguage.googleapis.com/v1beta", apiKeyVariable: "EXTERNAL_GOOGLE_KEY", keyRequired: true },
  // Azure OpenAI: `azure/<deployment>`; the resource's URL has no default (https://<resource>.openai.azure.com/openai).
  { name: "azure", baseUrlVariable: "AZURE_OPENAI_BASE_URL", defaultBaseUrl: undefined, apiKeyVariable: "EXTERNAL_AZURE_OPENAI_KEY", keyRequired: true },
] as const;

/**
 * Every provider a registry entry or deployment may name: the providers above, IIR agents (`local`),
 * registry routers (`auto`) and `openai-compatible` (any OpenAI-compatible API at the entry's base URL).
 */
export const registryProviders: ReadonlySet<string> = new Set([...providerTable.map((provider) => provider.name), "local", "auto", "openai-compatible"]);
