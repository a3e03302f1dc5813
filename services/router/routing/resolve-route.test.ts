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
    apiKeyEnv: "TEAM_KEY",
    enabled: true,
  });
  const [candidate, ...rest] = resolverWith([model], { TEAM_KEY: "secret-1", EXTERNAL_OPENAI_KEY: "other" }).resolve("openai/gpt-4o-mini");
  t.is(rest.length, 0);
  t.is(candidate!.adapter, openAICompatible);
  t.deepEqual({ ...candidate!.target }, {
    backend: "openai",
    provider: "openai",
    baseUrl: "http://10.1.2.3:9000/v1",
    apiKey: "secret-1",
    upstreamModel: "gpt-4o-mini-2024-07-18",
  });
});

test("provider naming sends the rest of the name upstream with the provider's URL and key", (t) => {
  const [candidate] = resolverWith([], { GROQ_BASE_URL: "http://127.0.0.1:1/v1", EXTERNAL_GROQ_KEY: "gk" }).resolve("groq/llama-3.1-8b-instant");
  t.is(candidate!.target.baseUrl, "http://127.0.0.1:1/v1");
  t.is(candidate!.target.apiKey, "gk");
  t.is(candidate!.target.upstreamModel, "llama-3.1-8b-instant");
  t.is(candidate!.target.backend, "groq");
});

test("a provider without its key or URL names the variable to set", (t) => {
  const resolver = resolverWith([], {});
  const missingKey = codeOf(() => resolver.resolve("openai/gpt-4o"));
  t.is(missingKey.code, Code.FailedPrecondition);
  t.regex(missingKey.message, /EXTERNAL_OPENAI_KEY/);
  const missingUrl = codeOf(() => resolver.resolve("llm-d/llama"));
  t.is(missingUrl.code, Code.FailedPrecondition);
  t.regex(missingUrl.message, /LLMD_ENDPOINT/);
});

test("llm-d needs no key", (t) => {
  const [candidate] = resolverWith([], { LLMD_ENDPOINT: "http://llm-d.local/v1" }).resolve("llm-d/meta-llama/Llama-3.1-8B");
  t.is(candidate!.target.upstreamModel, "meta-llama/Llama-3.1-8B");
  t.is(candidate!.target.apiKey, undefined);
});

test("unknown names, unknown providers and disabled models are NotFound", (t) => {
  const disabled = create(ModelSchema, { name: "old", provider: "openai", enabled: false });
  const resolver = resolverWith([disabled], { EXTERNAL_OPENAI_KEY: "k" });
  t.is(codeOf(() => resolver.resolve("gpt-5")).code, Code.NotFound);
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
