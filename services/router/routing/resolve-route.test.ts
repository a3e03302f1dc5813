import test from "ava";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ChatResponseSchema, type ChatParams } from "../../../gen/iir/inference/v1/inference_pb.js";
import { AgentSchema, ModelSchema, type Model } from "../../../gen/iir/registry/v1/registry_pb.js";
import { loadConfig } from "../../common/config.js";
import type { ChatAdapter } from "../adapters/adapter.js";
import { createAgentDirectory } from "../agents/agent-directory.js";
import { createBackendStats } from "./backend-stats.js";
import { breakerKey } from "./circuit-breaker.js";
import { createRouteResolver } from "./resolve-route.js";

// Routing only picks an adapter; it never calls one, so an object identity is all a test needs.
const openAICompatible = { name: "openai-compatible" } as unknown as ChatAdapter;

function resolverWith(models: Model[], env: Record<string, string>) {
  const config = loadConfig(env);
  return createRouteResolver({
    findModel: (name) => models.find((model) => model.name === name),
    providers: config.providers,
    adapters: new Map([["openai-compatible", openAICompatible]]),
    secret: config.secret,
  });
}

function codeOf(action: () => unknown): { code: Code; message: string } {
  try {
    action();
  } catch (error) {
    const connectError = ConnectError.from(error);
    return { code: connectError.code, message: connectError.rawMessage };
  }
  throw new Error("expected an error");
}

test("an exact registry match wins and uses its own base URL, upstream name and key variable", (t) => {
  const model = create(ModelSchema, {
    name: "openai/gpt-4o-mini",
    provider: "openai",
    baseUrl: "http://10.1.2.3:9000/v1",
    upstreamModel: "gpt-4o-mini-2024-07-18",
    apiKeyEnv: "EXTERNAL_TEAM_KEY",
    allowedRequestFields: ["service_tier"],
    enabled: true,
  });
  const [candidate, ...rest] = resolverWith([model], { EXTERNAL_TEAM_KEY: "secret-1", EXTERNAL_OPENAI_KEY: "other" }).resolve("openai/gpt-4o-mini");
  t.is(rest.length, 0);
  t.is(candidate!.adapter, openAICompatible);
  t.deepEqual({ ...candidate!.target }, {
    backend: "openai",
    provider: "openai",
    baseUrl: "http://10.1.2.3:9000/v1",
    apiKey: "secret-1",
    upstreamModel: "gpt-4o-mini-2024-07-18",
    allowedRequestFields: ["service_tier"],
    credentialSource: "EXTERNAL_TEAM_KEY",
  });
});

test("a hand-edited entry naming a variable outside EXTERNAL_* is refused without reading it", (t) => {
  const model = create(ModelSchema, { name: "leaky", provider: "openai", apiKeyEnv: "AWS_SECRET_ACCESS_KEY", enabled: true });
  const read: string[] = [];
  const config = loadConfig({ EXTERNAL_OPENAI_KEY: "k" });
  const resolver = createRouteResolver({
    findModel: (name) => (name === model.name ? model : undefined),
    providers: config.providers,
    adapters: new Map([["openai-compatible", openAICompatible]]),
    secret: (variable) => {
      read.push(variable);
      return "would-leak";
    },
  });
  const refused = codeOf(() => resolver.resolve("leaky"));
  t.is(refused.code, Code.FailedPrecondition);
  t.regex(refused.message, /model 'leaky' is misconfigured in the registry: api_key_env must name an EXTERNAL_\* environment variable/);
  t.deepEqual(read, [], "the variable was never read");
});

test("targets say where an operator fixes the credentials, never what they are", (t) => {
  const env = { EXTERNAL_OPENAI_KEY: "sk-1", GROQ_BASE_URL: "http://gq-user:gq-pass@127.0.0.1:1/v1", LLMD_ENDPOINT: "http://llm-d.local/v1" };
  const inUrl = create(ModelSchema, { name: "proxied", provider: "llm-d", baseUrl: "http://u:p@10.0.0.9/v1", enabled: true });
  const resolver = resolverWith([inUrl], env);
  t.is(resolver.resolve("openai/gpt-4o")[0]!.target.credentialSource, "EXTERNAL_OPENAI_KEY");
  t.is(resolver.resolve("groq/llama")[0]!.target.credentialSource, "the credentials in GROQ_BASE_URL");
  t.is(resolver.resolve("llm-d/llama")[0]!.target.credentialSource, "EXTERNAL_LLMD_KEY (it is not set)");
  t.is(resolver.resolve("proxied")[0]!.target.credentialSource, "the credentials in the base_url of registry model 'proxied'");
  t.is(resolver.resolve("openai/gpt-4o")[0]!.target.allowedRequestFields, undefined, "provider naming allows no controlled field");
});

test("provider naming sends the rest of the name upstream with the provider's URL and key", (t) => {
  const [candidate] = resolverWith([], { GROQ_BASE_URL: "http://127.0.0.1:1/v1", EXTERNAL_GROQ_KEY: "gk" }).resolve("groq/llama-3.1-8b-instant");
  t.is(candidate!.target.baseUrl, "http://127.0.0.1:1/v1");
  t.is(candidate!.target.apiKey, "gk");
  t.is(candidate!.target.upstreamModel, "llama-3.1-8b-instant");
  t.is(candidate!.target.backend, "groq");
});

test("a provider without its key or URL is NotFound to the client, naming the variable to set", (t) => {
  const resolver = resolverWith([], {});
  const missingKey = codeOf(() => resolver.resolve("openai/gpt-4o"));
  t.is(missingKey.code, Code.NotFound);
  t.regex(missingKey.message, /EXTERNAL_OPENAI_KEY/);
  const missingUrl = codeOf(() => resolver.resolve("llm-d/llama"));
  t.is(missingUrl.code, Code.NotFound);
  t.regex(missingUrl.message, /LLMD_ENDPOINT/);
});

test("model-name suffixes that change billing at the provider are refused on provider names", (t) => {
  const resolver = resolverWith([], { EXTERNAL_OPENROUTER_KEY: "sk-or", EXTERNAL_VENICE_KEY: "sk-v" });
  t.is(codeOf(() => resolver.resolve("openrouter/openai/gpt-4o:online")).code, Code.InvalidArgument);
  t.is(codeOf(() => resolver.resolve("openrouter/meta-llama/llama-3-8b:nitro")).code, Code.InvalidArgument);
  t.is(codeOf(() => resolver.resolve("venice/llama-3.3-70b:enable_web_search=on")).code, Code.InvalidArgument);
  t.is(resolver.resolve("openrouter/meta-llama/llama-3-8b:free")[0]?.target.upstreamModel, "meta-llama/llama-3-8b:free", "a model variant is not a billing switch");
});

test("llm-d needs no key", (t) => {
  const [candidate] = resolverWith([], { LLMD_ENDPOINT: "http://llm-d.local/v1" }).resolve("llm-d/meta-llama/Llama-3.1-8B");
  t.is(candidate!.target.upstreamModel, "meta-llama/Llama-3.1-8B");
  t.is(candidate!.target.apiKey, undefined);
});

test("unknown names, unknown providers and disabled models are NotFound", (t) => {
  const disabled = create(ModelSchema, { name: "old", provider: "openai", enabled: false });
  const resolver = resolverWith([disabled], { EXTERNAL_OPENAI_KEY: "k" });
  t.is(codeOf(() => resolver.resolve("no-such-model")).code, Code.NotFound);
  t.is(codeOf(() => resolver.resolve("nosuch/model")).code, Code.NotFound);
  t.is(codeOf(() => resolver.resolve("openai/")).code, Code.NotFound);
  t.regex(codeOf(() => resolver.resolve("old")).message, /disabled/);
});

test("fallbacks follow the primary in order; one that cannot be resolved is skipped", (t) => {
  const primary = create(ModelSchema, { name: "fast", provider: "groq", enabled: true, fallbacks: ["missing", "openai/gpt-4o-mini", "backup"] });
  const backup = create(ModelSchema, { name: "backup", provider: "openai", baseUrl: "http://127.0.0.1:2/v1", enabled: true });
  const candidates = resolverWith([primary, backup], { EXTERNAL_GROQ_KEY: "g", EXTERNAL_OPENAI_KEY: "o" }).resolve("fast");
  t.deepEqual(candidates.map((c) => `${c.target.backend}:${c.target.upstreamModel}`), ["groq:fast", "openai:gpt-4o-mini", "openai:backup"]);
});

test("a bare name a configured provider owns by its prefix goes to that provider, under its own name", (t) => {
  const resolver = resolverWith([], { EXTERNAL_OPENAI_KEY: "sk-o", EXTERNAL_GROQ_KEY: "g" });
  for (const name of ["gpt-4o-mini", "o3", "o4-mini", "chatgpt-4o-latest", "text-embedding-3-small"]) {
    const [candidate] = resolver.resolve(name);
    t.is(candidate!.target.provider, "openai", name);
    t.is(candidate!.target.backend, "openai", name);
    t.is(candidate!.target.upstreamModel, name, "the bare name is sent as it is");
    t.is(candidate!.target.apiKey, "sk-o");
  }
  t.is(codeOf(() => resolver.resolve("llama-3.1-8b-instant")).code, Code.NotFound, "open-weight families have no default provider");
  t.is(codeOf(() => resolver.resolve("o5")).code, Code.NotFound);
});

test("a bare name of a provider that is not configured is NotFound naming the variable to set", (t) => {
  const resolver = resolverWith([], {});
  const missing = codeOf(() => resolver.resolve("gpt-4o-mini"));
  t.is(missing.code, Code.NotFound);
  t.regex(missing.message, /EXTERNAL_OPENAI_KEY/);
});

test("a registry entry of a bare name wins over the prefix table", (t) => {
  const entry = create(ModelSchema, { name: "gpt-4o-mini", provider: "groq", upstreamModel: "llama-3.1-8b-instant", enabled: true });
  const [candidate] = resolverWith([entry], { EXTERNAL_OPENAI_KEY: "sk-o", EXTERNAL_GROQ_KEY: "g" }).resolve("gpt-4o-mini");
  t.is(candidate!.target.provider, "groq");
});

// Deployments: several places one registry model is served, ordered by the entry's strategy.

const deploymentEnv = { EXTERNAL_AZURE_KEY: "az-1", EXTERNAL_OPENAI_KEY: "sk-o", EXTERNAL_SPARE_KEY: "sp-1" };

function multiDeployed(fields: MessageInitShape<typeof ModelSchema> = {}): Model {
  return create(ModelSchema, {
    name: "gpt-4o",
    provider: "openai",
    enabled: true,
    deployments: [
      { provider: "azure", name: "azure-east", baseUrl: "https://east.example.com/openai", apiKeyEnv: "EXTERNAL_AZURE_KEY", weight: 2 },
      { provider: "openai", upstreamModel: "gpt-4o-2024-08-06" },
    ],
    ...fields,
  });
}

test("a model's deployments become one candidate each, named for x-iir-backend, with their own URL, model and key", (t) => {
  const resolver = resolverWith([multiDeployed()], deploymentEnv);
  const candidates = resolver.resolve("gpt-4o");
  t.deepEqual(
    candidates.map((candidate) => ({ ...candidate.target })),
    [
      { backend: "azure-east", provider: "azure", baseUrl: "https://east.example.com/openai", apiKey: "az-1", upstreamModel: "gpt-4o", allowedRequestFields: [], credentialSource: "EXTERNAL_AZURE_KEY" },
      // Empty fields come from the provider's configuration; the default name is <provider>/<upstream model>.
      { backend: "openai/gpt-4o-2024-08-06", provider: "openai", baseUrl: "https://api.openai.com/v1", apiKey: "sk-o", upstreamModel: "gpt-4o-2024-08-06", allowedRequestFields: [], credentialSource: "EXTERNAL_OPENAI_KEY" },
    ],
  );
});

test("deployments that cannot be called are skipped; the model's fallbacks follow every deployment", (t) => {
  const model = multiDeployed({
    fallbacks: ["backup"],
    deployments: [
      { provider: "openai", name: "no-key", baseUrl: "http://127.0.0.1:3/v1", apiKeyEnv: "EXTERNAL_UNSET_KEY" },
      { provider: "llm-d", name: "no-url" },
      { provider: "local", name: "no-agent", upstreamModel: "tiny" },
      { provider: "openai", name: "spare", baseUrl: "http://127.0.0.1:4/v1", apiKeyEnv: "EXTERNAL_SPARE_KEY" },
      { provider: "openai", name: "main" },
    ],
  });
  const backup = create(ModelSchema, { name: "backup", provider: "openai", baseUrl: "http://127.0.0.1:5/v1", enabled: true });
  const candidates = resolverWith([model, backup], deploymentEnv).resolve("gpt-4o");
  t.deepEqual(candidates.map((candidate) => candidate.target.backend), ["spare", "main", "openai"]);
});

test("when no deployment can be called the model's error names each, and its fallbacks answer", (t) => {
  const deployments = [
    { provider: "openai", name: "no-key", baseUrl: "http://127.0.0.1:3/v1", apiKeyEnv: "EXTERNAL_UNSET_KEY" },
    { provider: "llm-d", name: "no-url" },
  ];
  const alone = resolverWith([multiDeployed({ deployments })], deploymentEnv);
  const refused = codeOf(() => alone.resolve("gpt-4o"));
  t.is(refused.code, Code.FailedPrecondition);
  t.regex(refused.message, /no deployment of model 'gpt-4o' can be called: no-key: .*EXTERNAL_UNSET_KEY.*; no-url: .*LLMD_ENDPOINT/);
  t.false(refused.message.includes("127.0.0.1"), "no base URL in the message");

  const withAgentDeployment = resolverWith([multiDeployed({ deployments: [...deployments, { provider: "local", upstreamModel: "tiny" }] })], deploymentEnv);
  t.is(codeOf(() => withAgentDeployment.resolve("gpt-4o")).code, Code.Unavailable, "agents may come back");

  const backup = create(ModelSchema, { name: "backup", provider: "openai", enabled: true });
  const withFallback = resolverWith([multiDeployed({ deployments, fallbacks: ["backup"] }), backup], deploymentEnv);
  t.deepEqual(withFallback.resolve("gpt-4o").map((candidate) => candidate.target.backend), ["openai"]);
});

test("a local deployment expands to its live agents; least-busy puts the least loaded deployment first", (t) => {
  const config = loadConfig(deploymentEnv);
  const agents = createAgentDirectory({ staleAfterMs: 60_000 });
  const now = Date.now();
  agents.upsert(create(AgentSchema, { id: "agent-1", address: "http://127.0.0.1:7001", models: ["tiny"], lastSeenAt: BigInt(now) }));
  agents.upsert(create(AgentSchema, { id: "agent-2", address: "http://127.0.0.1:7002", models: ["tiny"], lastSeenAt: BigInt(now), load: { queueLength: 5 } }));
  const stats = createBackendStats();
  const model = multiDeployed({
    strategy: "least-busy",
    deployments: [{ provider: "openai", name: "cloud" }, { provider: "local", upstreamModel: "tiny" }],
  });
  const agentAdapter = { name: "agent" } as unknown as ChatAdapter;
  const resolver = createRouteResolver({
    findModel: (name) => (name === model.name ? model : undefined),
    providers: config.providers,
    adapters: new Map([["openai-compatible", openAICompatible], ["local", agentAdapter]]),
    secret: config.secret,
    agents,
  });
  // Nothing in flight: the cloud deployment (listed first) and agent-1 tie at 0; agent-2 has 5 queued.
  t.deepEqual(resolver.resolve("gpt-4o").map((candidate) => candidate.target.backend), ["cloud", "agent-1", "agent-2"]);
  const end = agents.begin("agent-1");
  const busyCloud = createRouteResolver({
    findModel: (name) => (name === model.name ? model : undefined),
    providers: config.providers,
    adapters: new Map([["openai-compatible", openAICompatible], ["local", agentAdapter]]),
    secret: config.secret,
    agents,
    stats: { ...stats, inFlight: (key) => (key.includes("#cloud") ? 3 : stats.inFlight(key)) },
  });
  t.deepEqual(busyCloud.resolve("gpt-4o").map((candidate) => candidate.target.backend), ["agent-1", "cloud", "agent-2"]);
  end();
});

test("weighted uses the injected randomness; every deployment stays in the list", (t) => {
  const config = loadConfig(deploymentEnv);
  const model = multiDeployed({ strategy: "weighted" });
  const draws = [0.9, 0.1];
  const resolver = createRouteResolver({
    findModel: (name) => (name === model.name ? model : undefined),
    providers: config.providers,
    adapters: new Map([["openai-compatible", openAICompatible]]),
    secret: config.secret,
    random: () => draws.shift() ?? 0,
  });
  // Weights 2 and 1 (0 counts as 1): 0.9 of 3 falls on the second; the first is what is left.
  t.deepEqual(resolver.resolve("gpt-4o").map((candidate) => candidate.target.backend), ["openai/gpt-4o-2024-08-06", "azure-east"]);
});

test("named deployments of one endpoint and model have breaker keys of their own", (t) => {
  const model = multiDeployed({
    deployments: [
      { provider: "openai", name: "team-a", apiKeyEnv: "EXTERNAL_AZURE_KEY" },
      { provider: "openai", name: "team-b", apiKeyEnv: "EXTERNAL_SPARE_KEY" },
      { provider: "openai" },
    ],
  });
  const keys = resolverWith([model], deploymentEnv).resolve("gpt-4o").map((candidate) => breakerKey(candidate.target));
  t.is(new Set(keys).size, 3, keys.join(" "));
  t.is(keys[2], "openai:gpt-4o@https://api.openai.com/v1", "an unnamed deployment keys as the provider's model does");
});

test("with stats, every resolved candidate is observed: its answers feed the moving averages", async (t) => {
  const config = loadConfig(deploymentEnv);
  const model = multiDeployed();
  const stats = createBackendStats();
  const answering: ChatAdapter = {
    chat: async () => create(ChatResponseSchema, {}),
    async *chatStream() {},
  };
  const resolver = createRouteResolver({
    findModel: (name) => (name === model.name ? model : undefined),
    providers: config.providers,
    adapters: new Map([["openai-compatible", answering]]),
    secret: config.secret,
    stats,
  });
  const [first] = resolver.resolve("gpt-4o");
  t.is(stats.latency(breakerKey(first!.target)), undefined);
  await first!.adapter.chat({} as ChatParams, first!.target, new AbortController().signal);
  t.is(stats.latency(breakerKey(first!.target))?.samples, 1);
});
