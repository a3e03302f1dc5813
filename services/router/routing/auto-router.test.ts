import test from "ava";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext } from "@connectrpc/connect";
import { ChatParamsSchema, InferenceService, Role } from "../../../gen/iir/inference/v1/inference_pb.js";
import { AgentSchema, ModelSchema, type Model } from "../../../gen/iir/registry/v1/registry_pb.js";
import { loadConfig } from "../../common/config.js";
import type { ChatAdapter } from "../adapters/adapter.js";
import { createAgentDirectory } from "../agents/agent-directory.js";
import { createAutoRouter, decideRoute, routeHeader, type AutoRouterDeps } from "./auto-router.js";
import { createRouteResolver } from "./resolve-route.js";

// Routing only picks an adapter; it never calls one, so an object identity is all a test needs.
const openAICompatible = { name: "openai-compatible" } as unknown as ChatAdapter;
const agentAdapter = { name: "agent" } as unknown as ChatAdapter;
const upstream = "http://10.0.0.1:9000/v1";

const priced = (name: string, input: number, output: number, extra: MessageInitShape<typeof ModelSchema> = {}) =>
  create(ModelSchema, { name, provider: "openai", baseUrl: upstream, upstreamModel: `${name}-upstream`, inputPricePerMillion: input, outputPricePerMillion: output, enabled: true, ...extra });
const cheap = priced("cheap", 0.1, 0.4);
const mid = priced("mid", 1, 4, { capabilities: ["tools"] });
const strong = priced("strong", 10, 40, { capabilities: ["tools", "reasoning"] });

function routerWith(models: Model[], env: Record<string, string> = {}, now = 1000) {
  const config = loadConfig(env);
  const agents = createAgentDirectory({ staleAfterMs: 10_000, now: () => now });
  const findModel = (name: string) => models.find((model) => model.name === name);
  const inner = createRouteResolver({
    findModel,
    providers: config.providers,
    adapters: new Map([["openai-compatible", openAICompatible], ["local", agentAdapter]]),
    secret: config.secret,
    agents,
  });
  const deps: AutoRouterDeps = {
    inner,
    findModel,
    listModels: () => models,
    liveAgentModels: () => agents.liveModels().keys(),
    weights: config.autoRouting,
  };
  return { router: createAutoRouter(deps), deps, agents };
}

const ask = (text: string, extra: Record<string, unknown> = {}) =>
  create(ChatParamsSchema, { model: "auto", messages: [{ role: Role.USER, content: { case: "text", value: text } }], ...extra });

function context() {
  return createHandlerContext({
    service: InferenceService,
    method: InferenceService.method.chat,
    protocolName: "grpc",
    requestMethod: "POST",
    url: "/iir.inference.v1.InferenceService/Chat",
  });
}

const hard = "```ts\nfunction f(a: number[]) { return a.sort(); }\n```\nProve step by step that f is correct and analyze it. " + "Mind each edge case. ".repeat(60);

test("`auto` sends a greeting to the cheap model and a long code proof to the strong one, and says so in x-iir-route", (t) => {
  const { router } = routerWith([cheap, mid, strong]);
  const easy = context();
  const [first] = router.resolve("auto", undefined, { params: ask("hi"), context: easy });
  t.is(first!.target.upstreamModel, "cheap-upstream");
  const header = easy.responseHeader.get(routeHeader)!;
  t.regex(header, /^model=cheap; deployment=openai\/cheap-upstream; score=[\d.-]+; cost_usd=[\d.]+; cost=[\d.]+; latency=0\.5; complexity=[\d.]+; router=auto; reason=best score$/);
  t.false(header.includes("10.0.0.1"));
  const tough = context();
  t.is(router.resolve("auto", undefined, { params: ask(hard), context: tough })[0]!.target.upstreamModel, "strong-upstream");
  t.regex(tough.responseHeader.get(routeHeader)!, /^model=strong;/);
});

test("the chosen model comes first, then the runner-up as a fallback", (t) => {
  const { router } = routerWith([cheap, mid, strong]);
  const candidates = router.resolve("auto", undefined, { params: ask("hi"), context: context() });
  t.deepEqual(candidates.map((candidate) => candidate.target.upstreamModel), ["cheap-upstream", "mid-upstream"]);
});

test("a tool request goes only to models with the tools capability, though a cheaper one exists", (t) => {
  const { router } = routerWith([cheap, mid, strong]);
  const tools = [{ type: "function", function: { name: "lookup", description: "", parameters: { type: "object" } } }];
  const candidates = router.resolve("auto", undefined, { params: ask("hi", { tools }), context: context() });
  t.deepEqual(candidates.map((candidate) => candidate.target.upstreamModel), ["mid-upstream", "strong-upstream"]);
});

test("a winner that cannot be called now (its key is not set) gives way to the next best", (t) => {
  const keyed = priced("cheap", 0.1, 0.4, { apiKeyEnv: "EXTERNAL_CHEAP_KEY" });
  const { router, deps } = routerWith([keyed, mid, strong]);
  const call = { params: ask("hi"), context: context() };
  t.is(router.resolve("auto", undefined, call)[0]!.target.upstreamModel, "mid-upstream");
  t.regex(call.context.responseHeader.get(routeHeader)!, /reason=cheap cannot be called now/);
  const decision = decideRoute(deps, "auto", ask("hi"));
  t.deepEqual(decision.skipped.map((entry) => entry.name), ["cheap"]);
  t.regex(decision.skipped[0]!.reason, /EXTERNAL_CHEAP_KEY/);
});

test("a router entry picks among its own candidates with its own weights", (t) => {
  const middling = ask("Explain why the sky is blue and compare it with sunsets.");
  const autoCheap = create(ModelSchema, { name: "auto-cheap", provider: "auto", enabled: true, auto: { candidates: ["cheap", "mid", "strong"], costWeight: 4 } });
  const coding = create(ModelSchema, { name: "auto-strong", provider: "auto", enabled: true, auto: { candidates: ["mid", "strong", "gone"] } });
  const { router, deps } = routerWith([cheap, mid, strong, autoCheap, coding]);
  t.is(router.resolve("auto", undefined, { params: middling })[0]!.target.upstreamModel, "mid-upstream");
  t.is(router.resolve("auto-cheap", undefined, { params: middling })[0]!.target.upstreamModel, "cheap-upstream");
  t.is(router.resolve("auto-strong", undefined, { params: ask("hi") })[0]!.target.upstreamModel, "mid-upstream");
  t.deepEqual(decideRoute(deps, "auto-strong", ask("hi")).ranking.excluded, [{ name: "gone", reason: "not in the registry" }]);
  // `auto` never picks a router entry itself.
  t.false(decideRoute(deps, "auto", ask("hi")).ranking.ranked.some((entry) => entry.name.startsWith("auto")));
});

test("models of live agents are candidates; other names pass to the inner resolver untouched", (t) => {
  const { router, agents } = routerWith([strong]);
  agents.upsert(create(AgentSchema, { id: "agent-1", address: "http://127.0.0.1:1", models: ["tiny"], lastSeenAt: 1000n }));
  t.is(router.resolve("auto", undefined, { params: ask("hi") })[0]!.target.backend, "agent-1");
  t.is(router.resolve("strong", undefined, { params: ask("hi") })[0]!.target.upstreamModel, "strong-upstream");
});

test("what no candidate fits is the request's fault; a chat-less call names the router's limits", (t) => {
  const { router } = routerWith([cheap]);
  const error = t.throws(() => router.resolve("auto", undefined, { params: ask("hi", { tools: [{ type: "function", function: { name: "f" } }] }) }));
  t.is(ConnectError.from(error).code, Code.InvalidArgument);
  t.regex(ConnectError.from(error).rawMessage, /cheap: no tools capability/);
  t.is(ConnectError.from(t.throws(() => router.resolve("auto"))).code, Code.InvalidArgument);
});

test("a disabled router entry is not found, like any disabled model", (t) => {
  const off = create(ModelSchema, { name: "auto-off", provider: "auto", enabled: false });
  const { router } = routerWith([cheap, off]);
  t.is(ConnectError.from(t.throws(() => router.resolve("auto-off", undefined, { params: ask("hi") }))).code, Code.NotFound);
});
