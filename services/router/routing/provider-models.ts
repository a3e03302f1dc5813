import { create } from "@bufbuild/protobuf";
import { ModelInfoSchema, type ModelInfo } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { ProviderConfig } from "../../common/config.js";
import { redactAddresses, redactUrlCredentialsIn } from "../../common/redact-url.js";
import type { ChatAdapter, ChatTarget, ProviderModel } from "../adapters/adapter.js";

/** What the provider model lists are read with. */
export interface ProviderModelsDeps {
  readonly providers: Readonly<Record<string, ProviderConfig>>;
  /** The adapter that speaks to a provider (the one routing would pick); undefined: none. */
  readonly adapterFor: (provider: string) => ChatAdapter | undefined;
  /** Milliseconds between reads (IIR_PROVIDER_MODELS_REFRESH_MS); 0: providers' models are not listed at all. */
  readonly refreshMs: number;
  /** Longest one provider may take to answer. */
  readonly timeoutMs: number;
  /** Told once per failed read, with the provider's name and a reason that holds no secret. */
  readonly warn: (message: string, fields: Record<string, unknown>) => void;
}

/** The models every configured provider lists, as `<provider>/<id>`, read in the background. */
export interface ProviderModels {
  /** What the last reads found (empty until the first answers). */
  list(): readonly ModelInfo[];
  /** Reads every provider now; resolves when all answered or failed. */
  refresh(): Promise<void>;
  /** Starts the first read (not awaited: readiness never waits on a provider) and the timer; nothing when the interval is 0. */
  start(): void;
  close(): void;
}

/**
 * A provider is asked for its models when it has a base URL and, where it needs one, a key (or
 * credentials in its base URL), and its adapter can list models. A provider that fails is left out
 * until it answers again; one that answered before keeps its last list through a failed refresh.
 */
export function createProviderModels(deps: ProviderModelsDeps): ProviderModels {
  const lists = new Map<string, readonly ModelInfo[]>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const controller = new AbortController();

  const readOne = async (provider: ProviderConfig, adapter: ChatAdapter): Promise<void> => {
    const target: ChatTarget = { backend: provider.name, provider: provider.name, baseUrl: provider.baseUrl ?? "", apiKey: provider.apiKey, upstreamModel: "", credentialSource: provider.apiKeyVariable };
    try {
      const models = await adapter.listModels!(target, AbortSignal.any([controller.signal, AbortSignal.timeout(deps.timeoutMs)]));
      const seen = Math.floor(Date.now() / 1000);
      lists.set(provider.name, models.map((model) => modelInfo(provider.name, model, seen)));
    } catch (error) {
      if (controller.signal.aborted) return;
      deps.warn("a provider's model list could not be read; its models are not listed", { provider: provider.name, reason: reasonOf(error, provider.apiKey) });
    }
  };

  const refresh = (): Promise<void> => {
    running ??= Promise.all(
      Object.values(deps.providers).flatMap((provider) => {
        const adapter = isListable(provider) ? deps.adapterFor(provider.name) : undefined;
        return adapter?.listModels === undefined ? [] : [readOne(provider, adapter)];
      }),
    ).then(() => {
      running = undefined;
    });
    return running;
  };

  return {
    list: () => [...lists.values()].flat(),
    refresh,
    start() {
      if (deps.refreshMs <= 0) return;
      void refresh();
      timer = setInterval(() => void refresh(), deps.refreshMs);
      timer.unref();
    },
    close() {
      clearInterval(timer);
      controller.abort();
    },
  };
}

function isListable(provider: ProviderConfig): boolean {
  if (provider.baseUrl === undefined) return false;
  return provider.apiKey !== undefined || !provider.keyRequired || hasUserInfo(provider.baseUrl);
}

function hasUserInfo(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.username !== "" || parsed.password !== "";
  } catch {
    return false;
  }
}

/** `seen`: unix seconds of the read, standing in for a creation time the provider did not give. */
function modelInfo(provider: string, model: ProviderModel, seen: number): ModelInfo {
  return create(ModelInfoSchema, {
    id: `${provider}/${model.id}`,
    ownedBy: provider,
    created: BigInt(model.created ?? seen),
    provider,
    contextLength: model.contextLength ?? 0,
  });
}

/** The failure's own words, cut short, with the key, URL credentials and addresses blanked should a message quote them. */
function reasonOf(error: unknown, apiKey: string | undefined): string {
  let text = error instanceof Error ? (error.name === "TimeoutError" ? "no answer in time" : error.message) : String(error);
  if (apiKey !== undefined && apiKey !== "") text = text.replaceAll(apiKey, "[redacted]");
  text = redactAddresses(redactUrlCredentialsIn(text));
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
