import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { ChatParams } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { Deployment, Model } from "../../../gen/iir/registry/v1/registry_pb.js";
import type { ProviderConfig } from "../../common/config.js";
import type { ChatAdapter, ChatTarget } from "../adapters/adapter.js";
import { llmdSchedulingHeaders } from "../adapters/openai-compatible/llmd-scheduling-headers.js";
import type { AgentDirectory, LiveAgent } from "../agents/agent-directory.js";
import { deploymentName, deploymentUpstreamModel } from "../registry/model-deployments.js";
import { apiKeyEnvProblem } from "../registry/models.repository.js";
import type { BackendStats } from "./backend-stats.js";
import { breakerKey } from "./circuit-breaker.js";
import { providerForBareName } from "./model-prefixes.js";
import { bareNameNotConfigured, cannotBeCalled, modelNotFound, noDeploymentCallable, notConfigured } from "./route-errors.js";
import { orderByStrategy, type StrategyChoice } from "./strategies.js";

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
  /**
   * What the router observes of each backend: read by the least-busy and lowest-latency strategies,
   * and every resolved candidate is wrapped to feed it; absent: neither.
   */
  readonly stats?: BackendStats;
  /** Uniform in [0, 1) for the weighted strategy; default Math.random (tests seed it). */
  readonly random?: () => number;
}

/** Provider type of models served by IIR agents. */
export const agentProvider = "local";

/** Provider type of llm-d (LLMD_ENDPOINT), whose scheduler reads headers a client may send. */
const llmdProvider = "llm-d";

/**
 * The call a route is resolved for, when there is one: what routing decorators (auto routing, prefix
 * affinity) read of the request, and where they say what they chose.
 */
export interface RouteCall {
  /** The chat request; absent for embeddings. */
  readonly params?: ChatParams;
  /** The RPC's context: its response headers (`x-iir-route`) and values (the server span). */
  readonly context?: HandlerContext;
}

/** Turns a requested model name into the ordered list of candidates to try. */
export interface RouteResolver {
  /**
   * `requestHeaders`: the call's request headers, for what a backend may be told of the client's
   * request (llm-d's scheduling headers, to llm-d targets only); absent: nothing is passed on.
   */
  resolve(model: string, requestHeaders?: Headers, call?: RouteCall): RouteCandidate[];
}

/**
 * Routing, step 1 of the architecture: an exact registry match (then its fallbacks in order);
 * otherwise a live agent's model; otherwise `<provider>/<model>` naming for a configured provider;
 * otherwise a bare name a configured provider owns by its prefix (model-prefixes.ts); otherwise NotFound.
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
    return live.map((agent) => agentCandidate(directory, adapter, agent, model));
  };

  const fromRegistry = (entry: Model): RouteCandidate[] => {
    if (entry.deployments.length > 0) return fromDeployments(entry);
    if (entry.provider === agentProvider) {
      const target = entry.upstreamModel || entry.name;
      const agents = fromAgents(target);
      if (agents === undefined) throw new ConnectError(`no agent serves '${target}'`, Code.Unavailable);
      return agents;
    }
    return [fromRegistryProvider(entry, { ...entry, backend: entry.provider, label: `model '${entry.name}'` })];
  };

  const fromRegistryProvider = (entry: Model, served: ServedAt): RouteCandidate => {
    const provider = providerNamed(deps.providers, served.provider);
    const baseUrl = served.baseUrl || provider?.baseUrl;
    if (!baseUrl) {
      const variable = provider?.baseUrlVariable;
      throw new ConnectError(
        `${served.label} has no base URL: set it in the registry${variable ? ` or set ${variable}` : ""}`,
        Code.FailedPrecondition,
      );
    }
    // A hand-edited registry is refused here too, before the variable is read: only EXTERNAL_* hold provider keys.
    const keyProblem = apiKeyEnvProblem(served.apiKeyEnv);
    if (keyProblem !== undefined) {
      throw new ConnectError(`${served.label} is misconfigured in the registry: ${keyProblem}`, Code.FailedPrecondition);
    }
    const apiKey = served.apiKeyEnv ? deps.secret(served.apiKeyEnv) : provider?.apiKey;
    if (served.apiKeyEnv && !apiKey) {
      throw new ConnectError(`${served.label} needs an API key: set ${served.apiKeyEnv}`, Code.FailedPrecondition);
    }
    return candidate(served.provider, {
      backend: served.backend,
      provider: served.provider,
      baseUrl,
      apiKey,
      upstreamModel: served.upstreamModel || entry.name,
      allowedRequestFields: entry.allowedRequestFields,
      credentialSource: registryCredentialSource(served, provider, baseUrl),
    });
  };

  /**
   * One candidate per deployment (a "local" one: per live agent), ordered by the entry's strategy.
   * A deployment that cannot be called now is skipped; only when none can is its error thrown, so the
   * entry's fallbacks run.
   */
  const fromDeployments = (entry: Model): RouteCandidate[] => {
    const choices: DeploymentChoice[] = [];
    const skipped: { readonly name: string; readonly error: ConnectError }[] = [];
    for (const deployment of entry.deployments) {
      try {
        choices.push(...deploymentChoices(entry, deployment));
      } catch (error) {
        skipped.push({ name: deploymentName(deployment, entry), error: ConnectError.from(error) });
      }
    }
    if (choices.length === 0) throw noDeploymentCallable(entry.name, skipped);
    return orderByStrategy(entry.strategy, choices, { stats: deps.stats, random: deps.random }).map((choice) => choice.candidate);
  };

  const deploymentChoices = (entry: Model, deployment: Deployment): DeploymentChoice[] => {
    const name = deploymentName(deployment, entry);
    const upstreamModel = deploymentUpstreamModel(deployment, entry);
    const weight = deployment.weight > 0 ? deployment.weight : 1;
    if (deployment.provider === agentProvider) {
      const live = deps.agents === undefined || isProviderName(deps.providers, upstreamModel) ? [] : deps.agents.liveFor(upstreamModel);
      if (live.length === 0) throw new ConnectError(`no live agent serves '${upstreamModel}'`, Code.Unavailable);
      const adapter = deps.adapters.get(agentProvider);
      if (!adapter) throw new ConnectError(`no adapter for provider type '${agentProvider}'`, Code.Unimplemented);
      const directory = deps.agents!;
      // The deployment's share of traffic is split among its agents.
      return live.map((agent) => {
        const routed = agentCandidate(directory, adapter, agent, upstreamModel);
        return { candidate: routed, key: breakerKey(routed.target), weight: weight / live.length, queued: agent.load?.queueLength ?? 0, agentInFlight: agent.inFlight };
      });
    }
    const provider = providerNamed(deps.providers, deployment.provider);
    // A provider's own endpoint without its key is refused by the provider: not worth a call.
    if (!deployment.baseUrl && !deployment.apiKeyEnv && provider?.baseUrl && provider.keyRequired && !provider.apiKey && !hasUserInfo(provider.baseUrl)) {
      throw new ConnectError(`deployment '${name}' needs an API key: set ${provider.apiKeyVariable}`, Code.FailedPrecondition);
    }
    const served: ServedAt = {
      label: `deployment '${name}' of model '${entry.name}'`,
      name: entry.name,
      backend: name,
      provider: deployment.provider,
      baseUrl: deployment.baseUrl,
      upstreamModel,
      apiKeyEnv: deployment.apiKeyEnv,
    };
    const routed = fromRegistryProvider(entry, served);
    return [{ candidate: routed, key: breakerKey(routed.target), weight, queued: 0 }];
  };

  const fromProviderName = (model: string): RouteCandidate | undefined => {
    const slash = model.indexOf("/");
    if (slash <= 0 || slash === model.length - 1) return undefined;
    const provider = providerNamed(deps.providers, model.slice(0, slash));
    if (!provider) return undefined;
    // Not configured here: to the client that model does not exist (a 503 would have SDKs retry it).
    if (!provider.baseUrl) throw notConfigured(model, provider.name, provider.baseUrlVariable);
    // Credentials in the base URL (a proxy's user and password) are a key too: they go as Basic.
    if (provider.keyRequired && !provider.apiKey && !hasUserInfo(provider.baseUrl)) throw notConfigured(model, provider.name, provider.apiKeyVariable);
    const suffix = Object.hasOwn(controlledSuffixes, provider.name) ? controlledSuffixes[provider.name]!.exec(model) : null;
    if (suffix !== null) {
      throw new ConnectError(
        `The model name suffix '${suffix[0]}' changes billing or routing at ${provider.name}; an administrator can register a model whose upstream_model has it.`,
        Code.InvalidArgument,
      );
    }
    // No registry entry: none of the provider's controlled request fields are allowed.
    return candidate(provider.name, {
      backend: provider.name,
      provider: provider.name,
      baseUrl: provider.baseUrl,
      apiKey: provider.apiKey,
      upstreamModel: model.slice(slash + 1),
      credentialSource: providerCredentialSource(provider, provider.baseUrl),
    });
  };

  // A bare name SDK users type (`gpt-4o-mini`, `claude-…`), sent as it is to the provider that owns it.
  const fromBareName = (model: string): RouteCandidate | undefined => {
    const owner = providerForBareName(model);
    const provider = owner === undefined ? undefined : providerNamed(deps.providers, owner);
    if (!provider) return undefined;
    if (!provider.baseUrl) throw bareNameNotConfigured(model, provider.name, provider.baseUrlVariable);
    if (provider.keyRequired && !provider.apiKey && !hasUserInfo(provider.baseUrl)) throw bareNameNotConfigured(model, provider.name, provider.apiKeyVariable);
    return candidate(provider.name, {
      backend: provider.name,
      provider: provider.name,
      baseUrl: provider.baseUrl,
      apiKey: provider.apiKey,
      upstreamModel: model,
      credentialSource: providerCredentialSource(provider, provider.baseUrl),
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
    const named = fromProviderName(model) ?? fromBareName(model);
    if (named) return [named];
    throw modelNotFound(model, "does not exist");
  };

  const resolveWithFallbacks = (model: string): RouteCandidate[] => {
    const entry = deps.findModel(model);
    if (!entry || entry.fallbacks.length === 0) return resolveOne(model);
    let first: RouteCandidate[];
    try {
      first = resolveOne(model);
    } catch (error) {
      // A primary that cannot be called at all (no key, no base URL, no live agent) leaves it to the
      // fallbacks; with none of them resolvable, the primary's own error stands.
      if (!cannotBeCalled(error)) throw error;
      const rest = resolveFallbacks(entry.fallbacks);
      if (rest.length === 0) throw error;
      return rest;
    }
    return [...first, ...resolveFallbacks(entry.fallbacks)];
  };

  const resolveFallbacks = (fallbacks: readonly string[]): RouteCandidate[] => {
    const candidates: RouteCandidate[] = [];
    for (const fallback of fallbacks) {
      // A fallback that cannot be resolved now (disabled, unconfigured) is skipped, not fatal:
      // the primary may still answer.
      try {
        candidates.push(...resolveOne(fallback));
      } catch {
        continue;
      }
    }
    return candidates;
  };

  return {
    resolve(model, requestHeaders) {
      const candidates = resolveWithFallbacks(model);
      const scheduling = requestHeaders === undefined ? undefined : llmdSchedulingHeaders(requestHeaders);
      const routed = scheduling === undefined ? candidates : candidates.map((candidate) => withLlmdSchedulingHeaders(candidate, scheduling));
      // Innermost around each adapter: every attempt's time to first token and in-flight count is recorded.
      return deps.stats === undefined ? routed : deps.stats.observe(routed);
    },
  };
}

/** Where a registry entry, or one deployment of it, is served; empty fields come from the provider's configuration. */
interface ServedAt {
  /** How messages name it: `model 'x'` or `deployment 'd' of model 'x'`. */
  readonly label: string;
  /** The registry entry's name. */
  readonly name: string;
  /** `x-iir-backend`: the provider name for an entry, the deployment's name for a deployment. */
  readonly backend: string;
  readonly provider: string;
  readonly baseUrl: string;
  readonly upstreamModel: string;
  readonly apiKeyEnv: string;
}

/** A deployment's candidate as its entry's strategy weighs it. */
interface DeploymentChoice extends StrategyChoice {
  readonly candidate: RouteCandidate;
}

/** A live agent as a candidate: its id is the backend, and the directory counts the attempt in flight. */
function agentCandidate(directory: AgentDirectory, adapter: ChatAdapter, agent: LiveAgent, model: string): RouteCandidate {
  return {
    adapter,
    target: { backend: agent.id, provider: agentProvider, baseUrl: agent.address, apiKey: undefined, upstreamModel: model },
    begin: () => directory.begin(agent.id),
  };
}

/** An llm-d candidate with the client's scheduling headers added to what its target sends; any other as it is. */
function withLlmdSchedulingHeaders(candidate: RouteCandidate, scheduling: Readonly<Record<string, string>>): RouteCandidate {
  if (candidate.target.provider !== llmdProvider) return candidate;
  return { ...candidate, target: { ...candidate.target, headers: { ...candidate.target.headers, ...scheduling } } };
}

/** Where an operator fixes the credentials of a registry entry's (or deployment's) provider (never their value). */
function registryCredentialSource(served: ServedAt, provider: ProviderConfig | undefined, baseUrl: string): string {
  if (served.apiKeyEnv) return served.apiKeyEnv;
  const where = served.backend === served.provider ? `registry model '${served.name}'` : `deployment '${served.backend}' of registry model '${served.name}'`;
  if (served.baseUrl && !provider?.apiKey && hasUserInfo(served.baseUrl)) return `the credentials in the base_url of ${where}`;
  if (provider !== undefined) return providerCredentialSource(provider, baseUrl);
  return `the api_key_env of ${where} (none is set)`;
}

/** Where an operator fixes a configured provider's credentials: its key variable, or the user and password in its base URL. */
function providerCredentialSource(provider: ProviderConfig, baseUrl: string): string {
  if (provider.apiKey) return provider.apiKeyVariable;
  if (hasUserInfo(baseUrl)) return `the credentials in ${provider.baseUrlVariable}`;
  return `${provider.apiKeyVariable} (it is not set)`;
}

function hasUserInfo(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.username !== "" || parsed.password !== "";
  } catch {
    return false;
  }
}

/**
 * Model-name suffixes that, like the controlled request fields, change billing or routing at the
 * provider: OpenRouter's web search (`:online`) and provider sorting shortcuts, Venice's inline
 * parameters (`model:enable_web_search=on`). Only a registry entry's upstream_model may carry them.
 */
const controlledSuffixes: Readonly<Record<string, RegExp>> = { openrouter: /:(online|nitro|floor|exacto)$/, venice: /:[^:/]*=[^:/]*$/ };

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
