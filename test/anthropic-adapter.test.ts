import path from "node:path";
import test, { type ExecutionContext } from "ava";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import OpenAI from "openai";
import { ChatParamsSchema, FinishReason, Role, type ChatParams } from "../gen/iir/inference/v1/inference_pb.js";
import { createChatResponseAssembler } from "../services/common/chat-response-parts.js";
import { findGatewayError, findUpstreamError } from "../services/common/errors.js";
import type { ChatTarget } from "../services/router/adapters/adapter.js";
import { createAnthropicAdapter } from "../services/router/adapters/anthropic/anthropic-adapter.js";
import { collect, collectUntilFailure, failureOf, kindsOf, textOf } from "./support/adapter-fixtures.js";
import {
  basicStream,
  cachedReadBody,
  errorBody,
  errorStatuses,
  messageBodyStopping,
  modelsPage,
  overloadedEvent,
  redactedData,
  startFakeAnthropic,
  thinkingBody,
  thinkingSignature,
  thinkingStream,
  toolUseBody,
  toolUseStream,
  type FakeAnthropic,
} from "./support/fake-anthropic.js";
import { call, clients } from "./support/grpc-js-clients.js";
import { spawnIir } from "./support/iir-process.js";
import { stopOnTeardown, temporaryDirectory } from "./support/process-fixtures.js";
import { startTestRouter } from "./support/router-fixture.js";

// The Anthropic adapter against a fake Anthropic API speaking the documented wire format.

const apiKey = "sk-ant-test-0123456789abcdef";
const weather = { type: "function", function: { name: "get_weather", description: "Get the current weather in a given location", parameters: { type: "object", properties: { location: { type: "string" } }, required: ["location"] } } };

async function setUp(t: ExecutionContext, version?: string) {
  const fake = await startFakeAnthropic({ apiKey });
  t.teardown(() => fake.close());
  const adapter = createAnthropicAdapter({ timeoutMs: 5_000, version });
  return { fake, adapter, target: targetFor(fake) };
}

function targetFor(fake: Pick<FakeAnthropic, "baseUrl">, baseUrl = fake.baseUrl): ChatTarget {
  return { backend: "anthropic", provider: "anthropic", baseUrl, apiKey, upstreamModel: "claude-sonnet-4-5", credentialSource: "EXTERNAL_ANTHROPIC_KEY" };
}

function params(init: MessageInitShape<typeof ChatParamsSchema> = {}): ChatParams {
  return create(ChatParamsSchema, {
    model: "anthropic/claude-sonnet-4-5",
    messages: [
      { role: Role.SYSTEM, content: { case: "text", value: "Be brief." } },
      { role: Role.USER, content: { case: "text", value: "Hello" } },
    ],
    ...init,
  });
}

const signal = () => AbortSignal.timeout(10_000);

test("a whole answer: text, finish with raw reason, usage; POST /v1/messages with x-api-key, anthropic-version, no Authorization, max_tokens 4096", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  const response = await adapter.chat(params(), target, signal());
  const [choice] = response.choices;
  t.is(choice?.message?.content.value, "Hi! My name is Claude.");
  t.is(choice?.message?.role, Role.ASSISTANT);
  t.is(choice?.finishReason, FinishReason.STOP);
  t.is(choice?.rawFinishReason, "end_turn");
  t.is(response.id, "msg_013Zva2CMHLNnXjNJJKqJ2EF");
  t.is(response.model, "claude-3-5-sonnet-20240620");
  t.is(response.backend, "anthropic");
  t.true(response.created > 1_600_000_000n);
  t.like(response.usage, { promptTokens: 2095, completionTokens: 503, totalTokens: 2598, cachedPromptTokens: 0, cacheCreationTokens: 0 });

  const request = fake.lastRequest();
  t.is(request.method, "POST");
  t.is(request.path, "/v1/messages");
  t.is(request.headers["x-api-key"], apiKey);
  t.is(request.headers["anthropic-version"], "2023-06-01");
  t.is(request.headers.authorization, undefined);
  t.regex(request.headers["content-type"] ?? "", /application\/json/);
  t.deepEqual(request.body, {
    model: "claude-sonnet-4-5",
    max_tokens: 4096,
    system: [{ type: "text", text: "Be brief." }],
    messages: [{ role: "user", content: [{ type: "text", text: "Hello" }] }],
  });
});

test("max_tokens: max_completion_tokens first, then max_tokens, else 4096 (beyond the thinking budget when one is set)", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  await adapter.chat(params({ maxTokens: 100, maxCompletionTokens: 200 }), target, signal());
  t.is(fake.lastRequest().body.max_tokens, 200);
  await adapter.chat(params({ maxTokens: 100 }), target, signal());
  t.is(fake.lastRequest().body.max_tokens, 100);
  await adapter.chat(params({ reasoningBudgetTokens: 16000 }), target, signal());
  t.like(fake.lastRequest().body, { max_tokens: 20096, thinking: { type: "enabled", budget_tokens: 16000 } });
});

test("system and developer turns go to `system` with their cache_control; same-role turns merge; tool results join the user turn first", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  await adapter.chat(
    params({
      messages: [
        { role: Role.SYSTEM, content: { case: "text", value: "Long context" }, extra: { cache_control: { type: "ephemeral" } } },
        { role: Role.DEVELOPER, content: { case: "text", value: "Be brief." } },
        { role: Role.USER, content: { case: "text", value: "Weather in Paris and Oslo?" } },
        { role: Role.ASSISTANT, content: { case: "text", value: "Checking." }, toolCalls: [{ id: "toolu_1", type: "function", function: { name: "get_weather", arguments: '{"location":"Paris"}' } }, { id: "toolu_2", type: "function", function: { name: "get_weather", arguments: "" } }] },
        { role: Role.TOOL, toolCallId: "toolu_1", content: { case: "text", value: "15 degrees" } },
        { role: Role.TOOL, toolCallId: "toolu_2", content: { case: "text", value: "city not found" }, isError: true },
        { role: Role.USER, content: { case: "text", value: "And tomorrow?" } },
      ],
    }),
    target,
    signal(),
  );
  const { body } = fake.lastRequest();
  t.deepEqual(body.system, [
    { type: "text", text: "Long context", cache_control: { type: "ephemeral" } },
    { type: "text", text: "Be brief." },
  ]);
  t.deepEqual(body.messages, [
    { role: "user", content: [{ type: "text", text: "Weather in Paris and Oslo?" }] },
    {
      role: "assistant",
      content: [
        { type: "text", text: "Checking." },
        { type: "tool_use", id: "toolu_1", name: "get_weather", input: { location: "Paris" } },
        { type: "tool_use", id: "toolu_2", name: "get_weather", input: {} },
      ],
    },
    {
      role: "user",
      content: [
        { type: "tool_result", tool_use_id: "toolu_1", content: "15 degrees" },
        { type: "tool_result", tool_use_id: "toolu_2", content: "city not found", is_error: true },
        { type: "text", text: "And tomorrow?" },
      ],
    },
  ]);
});

test("images: a data: URL becomes a base64 source with its media type, an https URL a url source; cache_control on a part passes", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  await adapter.chat(
    params({
      messages: [
        {
          role: Role.USER,
          content: {
            case: "parts",
            value: {
              parts: [
                { part: { case: "text", value: "What is in these?" } },
                { part: { case: "imageUrl", value: { url: "data:image/png;base64,iVBORw0KGgo=" } } },
                { part: { case: "imageUrl", value: { url: "https://upload.wikimedia.org/cat.jpg", detail: "high" } } },
                { part: { case: "other", value: { type: "text", text: "A long document", cache_control: { type: "ephemeral", ttl: "1h" } } } },
              ],
            },
          },
        },
      ],
    }),
    target,
    signal(),
  );
  t.deepEqual(fake.lastRequest().body.messages, [
    {
      role: "user",
      content: [
        { type: "text", text: "What is in these?" },
        { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
        { type: "image", source: { type: "url", url: "https://upload.wikimedia.org/cat.jpg" } },
        { type: "text", text: "A long document", cache_control: { type: "ephemeral", ttl: "1h" } },
      ],
    },
  ]);
});

test("tools get input_schema; tool_choice auto, required, a named function and none; parallel_tool_calls false disables parallel use", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  const cases: [MessageInitShape<typeof ChatParamsSchema>, unknown][] = [
    [{ toolChoice: { choice: { case: "mode", value: "auto" } } }, { type: "auto" }],
    [{ toolChoice: { choice: { case: "mode", value: "required" } } }, { type: "any" }],
    [{ toolChoice: { choice: { case: "functionName", value: "get_weather" } }, extra: { parallel_tool_calls: false } }, { type: "tool", name: "get_weather", disable_parallel_tool_use: true }],
    [{ toolChoice: { choice: { case: "mode", value: "none" } } }, { type: "none" }],
    [{ extra: { parallel_tool_calls: false } }, { type: "auto", disable_parallel_tool_use: true }],
  ];
  for (const [init, expected] of cases) {
    fake.script({ kind: "json", body: toolUseBody });
    await adapter.chat(params({ tools: [weather], ...init }), target, signal());
    const { body } = fake.lastRequest();
    t.deepEqual(body.tool_choice, expected);
    t.false("parallel_tool_calls" in body, "OpenAI's field is not sent on");
    t.deepEqual(body.tools, [{ name: "get_weather", description: "Get the current weather in a given location", input_schema: weather.function.parameters }]);
  }
});

test("a tool call whose arguments are not JSON is InvalidArgument, before anything is sent", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  const bad = params({ messages: [{ role: Role.USER, content: { case: "text", value: "hi" } }, { role: Role.ASSISTANT, toolCalls: [{ id: "toolu_1", type: "function", function: { name: "f", arguments: "{not json" } }] }] });
  const error = await failureOf(adapter.chat(bad, target, signal()));
  t.is(error.code, Code.InvalidArgument);
  t.regex(error.rawMessage, /messages\[1\]\.tool_calls\[0\]\.function\.arguments is not JSON/);
  t.is(fake.requests.length, 0);
});

test("assistant reasoning goes back as signed thinking and redacted_thinking blocks before the text", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  await adapter.chat(
    params({
      reasoningBudgetTokens: 2048,
      messages: [
        { role: Role.USER, content: { case: "text", value: "What is 27 * 453?" } },
        { role: Role.ASSISTANT, content: { case: "text", value: "12,231" }, reasoning: [{ text: "27 * 453 = 12,231", signature: "sig-1" }, { redactedData: "opaque" }] },
        { role: Role.USER, content: { case: "text", value: "And * 2?" } },
      ],
    }),
    target,
    signal(),
  );
  const messages = fake.lastRequest().body.messages as { content: unknown[] }[];
  t.deepEqual(messages[1]?.content, [
    { type: "thinking", thinking: "27 * 453 = 12,231", signature: "sig-1" },
    { type: "redacted_thinking", data: "opaque" },
    { type: "text", text: "12,231" },
  ]);
});

test("stop, sampling, user and extras: stop_sequences, temperature/top_p/top_k, metadata.user_id, unknown extras untouched; a legacy prompt is one user turn", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  await adapter.chat(params({ stop: ["###"], temperature: 0.2, topP: 0.9, topK: 40, user: "user-42", extra: { anthropic_extension: { a: 1 }, logprobs: true, service_tier: "auto" } }), target, signal());
  const { body } = fake.lastRequest();
  t.like(body, { stop_sequences: ["###"], temperature: 0.2, top_p: 0.9, top_k: 40, metadata: { user_id: "user-42" }, anthropic_extension: { a: 1 } });
  t.false("logprobs" in body, "OpenAI-only extras are left out");
  t.false("service_tier" in body, "a billing field the registry did not allow is left out");

  await adapter.chat(params({ messages: [], prompt: "Once upon a time" }), target, signal());
  t.deepEqual(fake.lastRequest().body.messages, [{ role: "user", content: [{ type: "text", text: "Once upon a time" }] }]);
});

test("with anthropic-version 2026-10-21, which refuses them, temperature, top_p and top_k are left out", async (t) => {
  const { fake, adapter, target } = await setUp(t, "2026-10-21");
  await adapter.chat(params({ temperature: 0.2, topP: 0.9, topK: 40 }), target, signal());
  const request = fake.lastRequest();
  t.is(request.headers["anthropic-version"], "2026-10-21");
  t.false("temperature" in request.body || "top_p" in request.body || "top_k" in request.body);
});

test("a base URL that already ends in /v1 is not given a second one", async (t) => {
  const { fake, adapter } = await setUp(t);
  await adapter.chat(params(), targetFor(fake, `${fake.baseUrl}/v1`), signal());
  t.is(fake.lastRequest().path, "/v1/messages");
});

test("a documented text stream: text deltas, the finish, then usage once; stream: true is sent", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  const parts = await collect(adapter.chatStream(params(), target, signal()));
  t.is(textOf(parts), "Hello!");
  t.deepEqual(kindsOf(parts), ["text", "finish", "usage"]);
  const finish = parts.find((part) => part.event.case === "finish");
  t.like(finish?.event.value, { reason: FinishReason.STOP, rawReason: "end_turn", stopSequence: "" });
  t.like(parts.at(-1)?.event.value, { promptTokens: 25, completionTokens: 15, totalTokens: 40 });
  t.true(parts.every((part) => part.model === "claude-sonnet-4-5-20250929" && part.backend === "anthropic"));
  t.is(fake.lastRequest().body.stream, true);
});

test("a documented tool-use stream: text, then one tool call built from input_json_delta pieces; finish TOOL_CALLS", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  fake.script({ kind: "stream", events: toolUseStream });
  const parts = await collect(adapter.chatStream(params({ tools: [weather], toolChoice: { choice: { case: "mode", value: "required" } } }), target, signal()));
  t.is(textOf(parts), "Okay, let's check the weather for San Francisco, CA:");
  const deltas = parts.flatMap((part) => (part.event.case === "toolCall" ? [part.event.value] : []));
  t.like(deltas[0], { index: 0, id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", type: "function", name: "get_weather" });
  t.true(deltas.slice(1).every((delta) => delta.index === 0 && delta.id === "" && delta.name === ""));
  t.deepEqual(JSON.parse(deltas.map((delta) => delta.arguments).join("")), { location: "San Francisco, CA", unit: "fahrenheit" });
  t.like(parts.find((part) => part.event.case === "finish")?.event.value, { reason: FinishReason.TOOL_CALLS, rawReason: "tool_use" });
  t.like(parts.at(-1)?.event.value, { promptTokens: 472, completionTokens: 89 });
});

test("a documented thinking stream: reasoning deltas, the signature closing the block, then the answer; the cache's assembler keeps the signed block", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  fake.script({ kind: "stream", events: thinkingStream });
  const parts = await collect(adapter.chatStream(params({ reasoningBudgetTokens: 16000 }), target, signal()));
  t.deepEqual(kindsOf(parts), ["reasoning", "text", "finish"], "the documented stream reports no usage");
  const reasoning = parts.flatMap((part) => (part.event.case === "reasoning" ? [part.event.value] : []));
  t.is(reasoning.map((delta) => delta.text).join(""), "Let me solve this step by step:\n\n1. First break down 27 * 453\n2. 453 = 400 + 50 + 3\n3. 27 * 400 = 10,800\n4. 27 * 50 = 1,350\n5. 27 * 3 = 81\n6. 10,800 + 1,350 + 81 = 12,231");
  t.is(reasoning.at(-1)?.signature, thinkingSignature);
  const assembler = createChatResponseAssembler();
  for (const part of parts) assembler.add(part);
  const { response, finished } = assembler.result();
  t.true(finished);
  t.is(response.choices[0]?.message?.reasoning.length, 1);
  t.is(response.choices[0]?.message?.reasoning[0]?.signature, thinkingSignature);
  t.is(response.choices[0]?.message?.content.value, "27 * 453 = 12,231");
  t.is(response.choices[0]?.rawFinishReason, "end_turn");
});

test("a whole tool-use answer: text and a call with id, name and JSON arguments", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  fake.script({ kind: "json", body: toolUseBody });
  const response = await adapter.chat(params({ tools: [weather] }), target, signal());
  const [choice] = response.choices;
  t.is(choice?.message?.content.value, "I'll check the current weather in San Francisco for you.");
  t.is(choice?.finishReason, FinishReason.TOOL_CALLS);
  t.like(choice?.message?.toolCalls[0], { id: "toolu_01A09q90qw90lq917835lq9", type: "function", function: { name: "get_weather" } });
  t.deepEqual(JSON.parse(choice?.message?.toolCalls[0]?.function?.arguments ?? ""), { location: "San Francisco, CA", unit: "celsius" });
  t.is(response.usage, undefined, "the documented example has no usage");
});

test("a whole thinking answer: a signed block and a redacted one; usage counts cache writes into the prompt", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  fake.script({ kind: "json", body: thinkingBody });
  const response = await adapter.chat(params(), target, signal());
  const message = response.choices[0]?.message;
  t.is(message?.content.value, "Based on my analysis...");
  t.like(message?.reasoning[0], { text: "Let me analyze this step by step...", redactedData: "" });
  t.regex(message?.reasoning[0]?.signature ?? "", /^WaUjzkyp/);
  t.like(message?.reasoning[1], { text: "", signature: "", redactedData });
  t.like(response.usage, { promptTokens: 21 + 188086, cacheCreationTokens: 188086, cachedPromptTokens: 0, completionTokens: 393, totalTokens: 21 + 188086 + 393 });
});

test("usage with a cache read: prompt tokens are the whole input, cached prompt tokens the part read", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  fake.script({ kind: "json", body: cachedReadBody });
  const response = await adapter.chat(params(), target, signal());
  t.like(response.usage, { promptTokens: 188107, cachedPromptTokens: 188086, cacheCreationTokens: 0, completionTokens: 393 });
});

test("every stop_reason maps to a finish reason, the raw reason and stop sequence kept", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  const cases: [string, string | null, FinishReason][] = [
    ["end_turn", null, FinishReason.STOP],
    ["stop_sequence", "###", FinishReason.STOP],
    ["max_tokens", null, FinishReason.LENGTH],
    ["tool_use", null, FinishReason.TOOL_CALLS],
    ["refusal", null, FinishReason.CONTENT_FILTER],
    ["pause_turn", null, FinishReason.STOP],
  ];
  for (const [stopReason, stopSequence, expected] of cases) {
    fake.script({ kind: "json", body: messageBodyStopping(stopReason, stopSequence) });
    const [choice] = (await adapter.chat(params({ stop: ["###"] }), target, signal())).choices;
    t.is(choice?.finishReason, expected, stopReason);
    t.is(choice?.rawFinishReason, stopReason);
    t.is(choice?.stopSequence, stopSequence ?? "");
  }
  t.deepEqual(fake.lastRequest().body.stop_sequences, ["###"]);
});

test("every documented error type: the code of the error table, Anthropic's error in the UpstreamError detail", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  const expected: Record<string, Code> = {
    invalid_request_error: Code.InvalidArgument,
    not_found_error: Code.NotFound,
    request_too_large: Code.InvalidArgument,
    rate_limit_error: Code.ResourceExhausted,
    api_error: Code.Unavailable,
    overloaded_error: Code.Unavailable,
  };
  for (const [type, code] of Object.entries(expected)) {
    const status = errorStatuses[type]!;
    fake.script({ kind: "json", status, body: errorBody(type, `the ${type} message`), headers: type === "rate_limit_error" ? { "retry-after": "7" } : {} });
    const error = await failureOf(adapter.chat(params(), target, signal()));
    t.is(error.code, code, type);
    t.like(findUpstreamError(error), { httpStatus: status, type, message: `the ${type} message`, provider: "anthropic" }, type);
    if (type === "rate_limit_error") t.is(error.metadata.get("retry-after"), "7");
  }
});

test("authentication and permission errors for IIR's own key are the gateway's 502, naming where to fix it and never the key", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  for (const type of ["authentication_error", "permission_error"]) {
    fake.script({ kind: "json", status: errorStatuses[type]!, body: errorBody(type, `bad key ${apiKey}`) });
    const error = await failureOf(adapter.chat(params(), target, signal()));
    t.is(error.code, Code.Unavailable, type);
    t.like(findGatewayError(error), { httpStatus: 502, code: "upstream_auth_error" });
    t.regex(error.rawMessage, /EXTERNAL_ANTHROPIC_KEY/);
    t.false(error.rawMessage.includes(apiKey));
  }
  const wrongKey = await failureOf(adapter.chat(params(), { ...target, apiKey: "sk-ant-wrong-key-00000" }, signal()));
  t.like(findGatewayError(wrongKey), { code: "upstream_auth_error" });
});

test("an error event mid-stream: the parts before it arrive, then Unavailable with the overload in the detail", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  fake.script({ kind: "stream", events: [...basicStream.slice(0, 4), overloadedEvent] });
  const { parts, error } = await collectUntilFailure(adapter.chatStream(params(), target, signal()));
  t.is(textOf(parts), "Hello");
  t.is(error.code, Code.Unavailable);
  t.like(findUpstreamError(error), { httpStatus: 529, type: "overloaded_error", message: "Overloaded" });
});

test("a stream cut before message_stop fails rather than looking complete", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  fake.script({ kind: "stream", events: basicStream.slice(0, 5) });
  const { error } = await collectUntilFailure(adapter.chatStream(params(), target, signal()));
  t.is(error.code, Code.Unavailable);
});

test("countTokens: POST /v1/messages/count_tokens with only the fields it accepts", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  const count = await adapter.countTokens!(params({ temperature: 0.5, maxTokens: 10, tools: [weather], stop: ["x"] }), target, signal());
  t.is(count, 14);
  const request = fake.lastRequest();
  t.is(request.path, "/v1/messages/count_tokens");
  t.is(request.headers["x-api-key"], apiKey);
  t.deepEqual(Object.keys(request.body).sort(), ["messages", "model", "system", "tools"]);
});

test("listModels follows has_more and last_id across pages", async (t) => {
  const { fake, adapter, target } = await setUp(t);
  fake.script({ kind: "json", body: modelsPage(["claude-opus-4-1", "claude-sonnet-4-5"], true) }, { kind: "json", body: modelsPage(["claude-3-haiku-20240307"], false) });
  const models = await adapter.listModels!({ ...target, upstreamModel: "" }, signal());
  t.deepEqual(models.map((model) => model.id), ["claude-opus-4-1", "claude-sonnet-4-5", "claude-3-haiku-20240307"]);
  t.like(models[0], { ownedBy: "anthropic", created: Date.parse("2025-02-19T00:00:00Z") / 1000 });
  const [first, second] = fake.requests.slice(-2);
  t.is(first?.method, "GET");
  t.is(first?.path, "/v1/models?limit=1000");
  t.is(second?.path, "/v1/models?limit=1000&after_id=claude-sonnet-4-5");
  t.is(second?.headers["anthropic-version"], "2023-06-01");
});

test("iir all: the official openai SDK reaches anthropic/<model> for a chat, a stream and a tool call", async (t) => {
  const fake = await startFakeAnthropic({ apiKey });
  t.teardown(() => fake.close());
  const directory = temporaryDirectory(t);
  const iir = stopOnTeardown(
    t,
    spawnIir(["all"], {
      IIR_HOST: "127.0.0.1",
      IIR_FACADE_PORT: "0",
      IIR_ROUTER_PORT: "0",
      IIR_AGENT_ENABLED: "false",
      SQLITE_DB_PATH: path.join(directory, "iir.db"),
      ANTHROPIC_BASE_URL: fake.baseUrl,
      EXTERNAL_ANTHROPIC_KEY: apiKey,
      CACHE_TTL: "0",
    }),
  );
  const started = await iir.waitForLog("iir started");
  const client = new OpenAI({ baseURL: `${String(started.facade)}/v1`, apiKey: "unused", maxRetries: 0 });

  const completion = await client.chat.completions.create({ model: "anthropic/claude-sonnet-4-5", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hello" }] });
  t.is(completion.choices[0]?.message.content, "Hi! My name is Claude.");
  t.is(completion.choices[0]?.finish_reason, "stop");
  t.is(completion.usage?.prompt_tokens, 2095);
  t.like(fake.lastRequest().body, { model: "claude-sonnet-4-5", system: [{ type: "text", text: "Be brief." }] });

  const stream = await client.chat.completions.create({ model: "anthropic/claude-sonnet-4-5", messages: [{ role: "user", content: "Hello" }], stream: true });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
  t.is(text, "Hello!");

  fake.script({ kind: "json", body: toolUseBody });
  const tools = [{ type: "function" as const, function: { name: "get_weather", parameters: { type: "object", properties: { location: { type: "string" } } } } }];
  const withTool = await client.chat.completions.create({ model: "anthropic/claude-sonnet-4-5", messages: [{ role: "user", content: "Weather in SF?" }], tools });
  const toolCall = withTool.choices[0]?.message.tool_calls?.[0];
  t.is(withTool.choices[0]?.finish_reason, "tool_calls");
  t.is(toolCall?.type === "function" ? toolCall.function.name : undefined, "get_weather");
  t.deepEqual(JSON.parse(toolCall?.type === "function" ? toolCall.function.arguments : "null"), { location: "San Francisco, CA", unit: "celsius" });
  t.deepEqual((fake.lastRequest().body.tools as unknown[])[0], { name: "get_weather", input_schema: tools[0]!.function.parameters });
  iir.kill("SIGTERM");
  t.is((await iir.exited).code, 0);
});

test("grpc-js: Chat for anthropic/<model> through the router answers from the Messages API", async (t) => {
  const fake = await startFakeAnthropic({ apiKey });
  t.teardown(() => fake.close());
  const { port } = await startTestRouter(t, { ANTHROPIC_BASE_URL: fake.baseUrl, EXTERNAL_ANTHROPIC_KEY: apiKey, CACHE_TTL: "0" });
  const { inference } = clients(t, `127.0.0.1:${port}`);
  const response = (await call(inference, "chat", { params: { model: "anthropic/claude-sonnet-4-5", messages: [{ role: "ROLE_USER", text: "Hello" }], maxTokens: 64 } })) as { choices: { message: { text: string }; finishReason: string; rawFinishReason: string }[]; backend: string };
  t.is(response.choices[0]?.message.text, "Hi! My name is Claude.");
  t.is(response.choices[0]?.finishReason, "FINISH_REASON_STOP");
  t.is(response.choices[0]?.rawFinishReason, "end_turn");
  t.is(response.backend, "anthropic");
  t.like(fake.lastRequest().body, { model: "claude-sonnet-4-5", max_tokens: 64 });
  fake.script({ kind: "json", status: 529, body: errorBody("overloaded_error", "Overloaded") });
  const error = await t.throwsAsync<grpc.ServiceError>(call(inference, "chat", { params: { model: "anthropic/claude-sonnet-4-5", messages: [{ role: "ROLE_USER", text: "Hello" }] } }));
  t.is(error?.code, grpc.status.UNAVAILABLE, "an overloaded Anthropic is Unavailable, so fallbacks would run");
});
