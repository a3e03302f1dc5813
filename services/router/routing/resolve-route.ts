import { Code, ConnectError } from "@connectrpc/connect";
import type { Model } from "../../../gen/iir/registry/v1/registry_pb.js";
import type { ProviderConfig } from "../../common/config.js";
import type { ChatAdapter, ChatTarget } from "../adapters/adapter.js";
import type { AgentDirectory } from "../agents/agent-directory.js";

/** One place a request may go: the adapter that speaks to it and where it is. */
export interface RouteCandidate {
  readonly adapter: ChatAdapter;
  readonly target: ChatTarget;
  /** Counts the attempt as in flight for load-aware routing; call the result when it ends. */
  readonly begin?: () => () => void;
}

/** What the resolver needs; everything is read at request time so registry changes apply at once. */
export interface RouteResolverDeps {
  /** Registry snapshot (synchronous lookup for the hot path). */
  readonly findModel: (name: string) => Model | undefined;
  readonly providers: Readonly<Record<string, ProviderConfig>>;
  /** Adapters by provider type; a provider type without one is Unimplemented. */
  readonly adapters: ReadonlyMap<string, ChatAdapter>;
  /** Reads the secret a registry entry names in `api_key_env`. */
  readonly secret: (variable: string) => string | undefined;
  /** Agents that registered with this router; absent: no agent routing. */
  readonly agents?: AgentDirectory;
}

/** Provider type of models served by IIR agents. */
export const agentProvider = "local";

/** Turns a requested model name into the ordered list of candidates to try. */
export interface RouteResolver {
  resolve(model: string): RouteCandidate[];
}

/**
 * Routing, step 1 of the architecture: an exact registry match (then its fallbacks in order);
 * otherwise `<provider>/<model>` naming for a configured provider; otherwise NotFound.
 */
export function createRouteResolver(deps: RouteResolverDeps): RouteResolver {
  const fromAgents = (model: string): RouteCandidate[] | undefined => {
    const directory = deps.agents;
    // A provider's names are never an agent's, whatever an agent claimed.
    if (directory === undefined || isProviderName(deps.providers, model)) return undefined;
    const live = directory.liveFor(model);
    if (live.length === 0) {
      if (!directory.knows(model) && !model.startsWith(`${agentProvider}/`)) return undefined;
      if (!directory.knows(model)) throw modelNotFound(model, "does not exist");
      throw new ConnectError(`no live agent serves '${model}': its agents stopped sending heartbeats`, Code.Unavailable);
    }
    const adapter = deps.adapters.get(agentProvider);
    if (!adapter) throw new ConnectError(`no adapter for provider type '${agentProvider}'`, Code.Unimplemented);
    return live.map((agent) => ({
      adapter,
      target: { backend: agent.id, provider: agentProvider, baseUrl: agent.address, apiKey: undefined, upstreamModel: model },
      begin: () => directory.begin(agent.id),
    }));
  };

  const fromRegistry = (entry: Model): RouteCandidate[] => {
    if (entry.provider === agentProvider) {
      const target = entry.upstreamModel || entry.name;
      const agents = fromAgents(target);
      if (agents === undefined) throw new ConnectError(`no agent serves '${target}'`, Code.Unavailable);
      return agents;
    }
    return [fromRegistryProvider(entry)];
  };

  const fromRegistryProvider = (entry: Model): RouteCandidate => {
    const provider = providerNamed(deps.providers, entry.provider);
    const baseUrl = entry.baseUrl || provider?.baseUrl;
    if (!baseUrl) {
      const variable = provider?.baseUrlVariable;
      throw new ConnectError(
        `model '${entry.name}' has no base URL: set it in the registry${variable ? ` or set ${variable}` : ""}`,
        Code.FailedPrecondition,
      );
    }
    const apiKey = entry.apiKeyEnv ? deps.secret(entry.apiKeyEnv) : provider?.apiKey;
    if (entry.apiKeyEnv && !apiKey) {
      throw new ConnectError(`model '${entry.name}' needs an API key: set ${entry.apiKeyEnv}`, Code.FailedPrecondition);
    }
    return candidate(entry.provider, { backend: entry.provider, provider: entry.provider, baseUrl, apiKey, upstreamModel: entry.upstreamModel || entry.name });
  };

  const fromProviderName = (model: string): RouteCandidate | undefined => {
    const slash = model.indexOf("/");
    if (slash <= 0 || slash === model.length - 1) return undefined;
    const provider = providerNamed(deps.providers, model.slice(0, slash));
    if (!provider) return undefined;
    if (!provider.baseUrl) {
      throw new ConnectError(`provider '${provider.name}' is not configured: set ${provider.baseUrlVariable}`, Code.FailedPrecondition);
    }
    if (provider.keyRequired && !provider.apiKey) {
      throw new ConnectError(`provider '${provider.name}' is not configured: set ${provider.apiKeyVariable}`, Code.FailedPrecondition);
    }
    return candidate(provider.name, {
      backend: provider.name,
      provider: provider.name,
      baseUrl: provider.baseUrl,
      apiKey: provider.apiKey,
      upstreamModel: model.slice(slash + 1),
    });
  };

  const candidate = (providerType: string, target: ChatTarget): RouteCandidate => {
    const adapter = deps.adapters.get(providerType) ?? deps.adapters.get(openAICompatible(providerType, deps.providers));
    if (!adapter) throw new ConnectError(`no adapter for provider type '${providerType}'`, Code.Unimplemented);
    return { adapter, target };
  };

  const resolveOne = (model: string): RouteCandidate[] => {
    const entry = deps.findModel(model);
    if (entry) {
      if (!entry.enabled) throw modelNotFound(model, "is disabled");
      return fromRegistry(entry);
    }
    const agents = fromAgents(model);
    if (agents) return agents;
    const named = fromProviderName(model);
    if (named) return [named];
    throw modelNotFound(model, "does not exist");
  };

  return {
    resolve(model) {
      const first = resolveOne(model);
      const entry = deps.findModel(model);
      if (!entry || entry.fallbacks.length === 0) return first;
      const candidates = [...first];
      for (const fallback of entry.fallbacks) {
        // A fallback that cannot be resolved now (disabled, unconfigured) is skipped, not fatal:
        // the primary may still answer.
        try {
          candidates.push(...resolveOne(fallback));
        } catch {
          continue;
        }
      }
      return candidates;
    },
  };
}

function modelNotFound(model: string, reason: string): ConnectError {
  return new ConnectError(`The model '${model}' ${reason} or you do not have access to it.`, Code.NotFound);
}

/** Every configured provider speaks the OpenAI wire format unless an adapter is registered for it by name. */
function openAICompatible(providerType: string, providers: Readonly<Record<string, ProviderConfig>>): string {
  return providerNamed(providers, providerType) !== undefined || providerType === "openai-compatible" ? "openai-compatible" : providerType;
}

/** The provider of that name; never a property of Object.prototype (`__proto__/x`, `constructor/x`). */
export function providerNamed(providers: Readonly<Record<string, ProviderConfig>>, name: string): ProviderConfig | undefined {
  return Object.hasOwn(providers, name) ? providers[name] : undefined;
}

/** Whether a model name is under a provider's prefix (`openai/…`), which agents may never claim. */
export function isProviderName(providers: Readonly<Record<string, ProviderConfig>>, model: string): boolean {
  const slash = model.indexOf("/");
  return slash > 0 && providerNamed(providers, model.slice(0, slash)) !== undefined;
}
