import test from "ava";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ModelSchema, type Model } from "../../../gen/iir/registry/v1/registry_pb.js";
import { loadConfig } from "../../common/config.js";
import type { ChatAdapter } from "../adapters/adapter.js";
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
