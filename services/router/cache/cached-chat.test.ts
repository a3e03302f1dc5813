import { randomUUID } from "node:crypto";
import test from "ava";
import { create } from "@bufbuild/protobuf";
import { createClient } from "redis";
import { createContextValues, createHandlerContext, type HandlerContext } from "@connectrpc/connect";
import {
  ChatParamsSchema,
  ChatResponseSchema,
  FinishReason,
  InferenceService,
  Role,
  type ChatParams,
  type ChatResponse,
} from "../../../gen/iir/inference/v1/inference_pb.js";
import { iterableOf } from "../../common/async-iterables.js";
import { createLogger } from "../../common/logger.js";
import { requireRedis, sharedRedisUrl } from "../../../test/support/redis-fixtures.js";
import { partsFromChatResponse } from "../../common/chat-response-parts.js";
import { callerKey } from "../auth/caller.js";
import { cacheKeyFor } from "./cache-key.js";
import { cacheResultHeader, createCachedChat, type CacheSettings } from "./cached-chat.js";
import { createMemoryCache } from "./memory-cache.js";
import { createRedisCache } from "./redis-cache.js";
import type { ResponseCache } from "./response-cache.js";

// The cache's rules at the level of the router's answer paths: whose answers a caller may get, and
// which requests are cached at all. The caller is put in the context's values as the router's
// policy interceptor does.

interface Ask {
  /** The API key's id; undefined: a router without keys. */
  readonly keyId?: string;
  readonly headers?: Record<string, string>;
}

/** The cached answer paths over a real cache (memory unless given), with a backend that counts its calls. */
function harness(settings: Partial<Omit<CacheSettings, "store">> = {}, store: ResponseCache = createMemoryCache({ maxEntries: 100, maxBytes: 1024 * 1024 })) {
  const cached = createCachedChat({ store, ttlSeconds: 60, ...settings });
  let backendCalls = 0;
  const contextFor = (ask: Ask): HandlerContext => {
    const values = createContextValues();
    if (ask.keyId !== undefined) values.set(callerKey, { keyId: ask.keyId, keyName: `name of ${ask.keyId}` });
    return createHandlerContext({
      service: InferenceService,
      method: InferenceService.method.chat,
      protocolName: "grpc",
      requestMethod: "POST",
      url: "/iir.inference.v1.InferenceService/Chat",
      requestHeader: ask.headers,
      contextValues: values,
    });
  };
  return {
    store,
    backendCalls: () => backendCalls,
    /** What the cache answered (hit, miss or bypass) and the text the caller got. */
    async ask(params: ChatParams, ask: Ask = {}) {
      const context = contextFor(ask);
      const response = await cached.chat(params, context, async () => answerTo(params, ++backendCalls));
      return { result: context.responseHeader.get(cacheResultHeader), text: textOf(response) };
    },
    async askStream(params: ChatParams, ask: Ask = {}) {
      const context = contextFor(ask);
      const parts = await cached.chatStream(params, context, () => iterableOf(partsFromChatResponse(answerTo(params, ++backendCalls))));
      let text = "";
      for await (const part of parts) if (part.event.case === "text") text += part.event.value.text;
      return { result: context.responseHeader.get(cacheResultHeader), text };
    },
  };
}

/** The backend's answer: which call of the backend made it, so a hit shows whose answer it was. */
function answerTo(params: ChatParams, call: number): ChatResponse {
  return create(ChatResponseSchema, {
    model: params.model,
    backend: "fake",
    choices: [{ index: 0, finishReason: FinishReason.STOP, message: { role: Role.ASSISTANT, content: { case: "text", value: `answer ${call}` } } }],
  });
}

function textOf(response: ChatResponse): string {
  const content = response.choices[0]?.message?.content;
  return content?.case === "text" ? content.value : "";
}

function request(fields: { model?: string; temperature?: number; seed?: bigint } = {}): ChatParams {
  return create(ChatParamsSchema, {
    model: fields.model ?? "team/chat",
    messages: [{ role: Role.USER, content: { case: "text", value: "What is a gateway?" } }],
    ...(fields.temperature !== undefined ? { temperature: fields.temperature } : {}),
    ...(fields.seed !== undefined ? { seed: fields.seed } : {}),
  });
}

const greedy = request({ temperature: 0 });

/** The key a request's answer is stored under in a scope. */
function cacheKeyIn(scope: string, params: ChatParams): string {
  return `${scope}:${cacheKeyFor(params)}`;
}

test("by default two API keys never get each other's answers, while each key's repeats are hits", async (t) => {
  const cache = harness();
  t.deepEqual(await cache.ask(greedy, { keyId: "key-a" }), { result: "miss", text: "answer 1" });
  t.deepEqual(await cache.ask(greedy, { keyId: "key-b" }), { result: "miss", text: "answer 2" }, "key b does not learn what key a asked");
  t.deepEqual(await cache.ask(greedy, { keyId: "key-a" }), { result: "hit", text: "answer 1" });
  t.deepEqual(await cache.ask(greedy, { keyId: "key-b" }), { result: "hit", text: "answer 2" });
  t.deepEqual(await cache.ask(greedy), { result: "miss", text: "answer 3" }, "an open router's callers are a scope of their own");
  t.deepEqual(await cache.ask(greedy), { result: "hit", text: "answer 3" });
  t.is(cache.backendCalls(), 3);
});

test("with scope global every key shares every answer", async (t) => {
  const cache = harness({ scope: "global" });
  t.deepEqual(await cache.ask(greedy, { keyId: "key-a" }), { result: "miss", text: "answer 1" });
  t.deepEqual(await cache.ask(greedy, { keyId: "key-b" }), { result: "hit", text: "answer 1" });
  t.deepEqual(await cache.ask(greedy), { result: "hit", text: "answer 1" });
  t.is(cache.backendCalls(), 1);
});

test("streams keep to the same scopes", async (t) => {
  const cache = harness();
  t.deepEqual(await cache.askStream(greedy, { keyId: "key-a" }), { result: "miss", text: "answer 1" });
  t.deepEqual(await cache.askStream(greedy, { keyId: "key-b" }), { result: "miss", text: "answer 2" });
  t.deepEqual(await cache.ask(greedy, { keyId: "key-a" }), { result: "hit", text: "answer 1" }, "what a stream stored answers its own key");
});

test("a request that samples is answered bypass, neither looked up nor stored: temperature above 0 or unset, no seed", async (t) => {
  const cache = harness();
  for (const sampling of [request({ temperature: 1 }), request({ temperature: 0.2 }), request()]) {
    t.is((await cache.ask(sampling)).result, "bypass");
    t.is((await cache.ask(sampling)).result, "bypass");
    t.is((await cache.askStream(sampling)).result, "bypass");
  }
  t.is(cache.backendCalls(), 9, "every sampling request got a fresh draw");
  t.is(await cache.store.get(cacheKeyIn("open", request())), undefined);
  t.is(await cache.store.get(cacheKeyIn("open", request({ temperature: 1 }))), undefined);
});

test("a seed or temperature 0 makes a request repeatable, and it is cached", async (t) => {
  const cache = harness();
  for (const repeatable of [greedy, request({ temperature: 1, seed: 7n }), request({ seed: 7n })]) {
    t.is((await cache.ask(repeatable)).result, "miss");
    t.is((await cache.ask(repeatable)).result, "hit");
  }
  t.is(cache.backendCalls(), 3);
});

test("a caller opts a sampling request in with iir-cache-sampled: true", async (t) => {
  const cache = harness();
  const sampling = request({ temperature: 0.8 });
  const optedIn = { headers: { "iir-cache-sampled": "true" } };
  t.deepEqual(await cache.ask(sampling, optedIn), { result: "miss", text: "answer 1" });
  t.deepEqual(await cache.ask(sampling, optedIn), { result: "hit", text: "answer 1" });
  t.deepEqual(await cache.askStream(sampling, optedIn), { result: "hit", text: "answer 1" });
  t.is((await cache.ask(sampling)).result, "bypass", "without the header the same request draws afresh");
  t.is((await cache.ask(sampling, { headers: { "iir-cache-sampled": "false" } })).result, "bypass");
});

test("a model whose registry entry has cache_sampled caches its sampling requests; other models do not", async (t) => {
  const cache = harness({ findModel: (name) => (name === "team/faq" ? { cacheSampled: true } : name === "team/chat" ? { cacheSampled: false } : undefined) });
  const faq = request({ model: "team/faq", temperature: 0.7 });
  t.is((await cache.ask(faq)).result, "miss");
  t.is((await cache.ask(faq)).result, "hit");
  t.is((await cache.ask(request({ model: "team/chat", temperature: 0.7 }))).result, "bypass");
  t.is((await cache.ask(request({ model: "openai/gpt-4o-mini", temperature: 0.7 }))).result, "bypass", "a model not in the registry");
});

test("Cache-Control no-cache skips the lookup but stores; no-store skips both, even when sampling is opted in", async (t) => {
  const cache = harness();
  t.is((await cache.ask(greedy, { headers: { "cache-control": "no-store" } })).result, "bypass");
  t.is((await cache.ask(greedy, { headers: { "cache-control": "no-cache" } })).result, "miss");
  t.deepEqual(await cache.ask(greedy), { result: "hit", text: "answer 2" });
  const sampling = request({ temperature: 0.5 });
  t.is((await cache.ask(sampling, { headers: { "iir-cache-sampled": "true", "cache-control": "no-store" } })).result, "bypass");
  t.is(await cache.store.get(cacheKeyIn("open", sampling)), undefined);
});

test("in Redis the scope is part of every key: two API keys keep apart there too", async (t) => {
  if (!(await requireRedis(t))) return;
  const keyPrefix = `iir-test-${randomUUID()}:`;
  const redis = createClient({ url: sharedRedisUrl });
  await redis.connect();
  const store = createRedisCache({ url: sharedRedisUrl, timeoutMs: 2000, keyPrefix, logger: createLogger({ level: "silent", name: "test" }) });
  t.teardown(async () => {
    for (const key of await redis.keys(`${keyPrefix}*`)) await redis.del(key);
    await redis.quit();
    await store.close();
  });
  const cache = harness({}, store);
  // Until the cache's client has connected a store is dropped: ask until key a's answer is in Redis.
  const aStored = `${keyPrefix}cache:${cacheKeyIn("key-a", greedy)}`;
  const deadline = Date.now() + 5000;
  while ((await redis.exists(aStored)) === 0 && Date.now() < deadline) {
    await cache.ask(greedy, { keyId: "a" });
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  t.is(await redis.exists(aStored), 1);
  const calls = cache.backendCalls();
  t.is((await cache.ask(greedy, { keyId: "a" })).result, "hit");
  t.is((await cache.ask(greedy, { keyId: "b" })).result, "miss", "key b does not find key a's answer in Redis");
  t.is(cache.backendCalls(), calls + 1);
  t.is((await cache.ask(greedy)).result, "miss");
});
