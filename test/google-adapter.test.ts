import path from "node:path";
import test, { type ExecutionContext } from "ava";
import OpenAI from "openai";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { EmbedRequestSchema, FinishReason, Role } from "../gen/iir/inference/v1/inference_pb.js";
import { findGatewayError, findUpstreamError } from "../services/common/errors.js";
import type { ChatTarget } from "../services/router/adapters/adapter.js";
import { createGoogleAdapter } from "../services/router/adapters/google/google-adapter.js";
import { jsonSchemaToGoogle } from "../services/router/adapters/google/convert-json-schema-to-google.js";
import { collect, collectUntilFailure, failureOf, kindsOf, paramsWith, textOf, weatherTool } from "./support/adapter-fixtures.js";
import { googleError, startFakeGemini, type FakeGemini } from "./support/fake-gemini.js";
import { spawnIir } from "./support/iir-process.js";
import { freePort, stopOnTeardown, temporaryDirectory } from "./support/process-fixtures.js";

// The Google (Gemini API) adapter against a fake of Google's API: translation both ways, streams,
// errors, embeddings, model lists, token counts; and one request through a real `iir all` with the
// official OpenAI SDK.

const googleKey = "AIzaSy-fake-google-key-0123456789";

async function setUp(t: ExecutionContext, model = "gemini-2.5-flash") {
  const gemini = await startFakeGemini(googleKey);
  t.teardown(() => gemini.close());
  const adapter = createGoogleAdapter({ timeoutMs: 5_000 });
  return { gemini, adapter, target: targetFor(gemini, model) };
}

function targetFor(gemini: FakeGemini, model: string, apiKey = googleKey): ChatTarget {
  return { backend: "google", provider: "google", baseUrl: gemini.baseUrl, apiKey, upstreamModel: model, credentialSource: "EXTERNAL_GOOGLE_KEY" };
}

const signal = () => AbortSignal.timeout(10_000);

function textCandidate(text: string, finishReason: string, index = 0) {
  return { content: { parts: [{ text }], role: "model" }, finishReason, index };
}

test("a whole answer: Gemini's JSON in, the contract's response out; the key goes as x-goog-api-key, never in the URL", async (t) => {
  const { gemini, adapter, target } = await setUp(t);
  const response = await adapter.chat(paramsWith({ temperature: 0.5, topP: 0.9, topK: 40, maxTokens: 64, stop: ["END"], seed: 7n, n: 1, presencePenalty: 0.1, frequencyPenalty: 0.2 }), target, signal());

  const [choice] = response.choices;
  t.is(choice?.message?.content.value, "echo: hello world");
  t.is(choice?.message?.role, Role.ASSISTANT);
  t.is(choice?.finishReason, FinishReason.STOP);
  t.is(choice?.rawFinishReason, "STOP");
  t.is(response.model, "gemini-2.5-flash");
  t.is(response.id, "Un6LacrVMcjUxs0PmJfWoQc");
  t.is(response.backend, "google");
  t.like(response.usage, { promptTokens: 4, completionTokens: 3, totalTokens: 7 });

  const request = gemini.lastRequest();
  t.is(request.method, "POST");
  t.is(request.url, "/v1beta/models/gemini-2.5-flash:generateContent");
  t.is(request.headers["x-goog-api-key"], googleKey);
  t.is(request.headers.authorization, undefined);
  t.false(request.url.includes(googleKey));
  t.deepEqual(request.body.systemInstruction, { parts: [{ text: "Be brief." }] });
  t.deepEqual(request.body.contents, [{ role: "user", parts: [{ text: "hello world" }] }]);
  t.deepEqual(request.body.generationConfig, { temperature: 0.5, topP: 0.9, topK: 40, maxOutputTokens: 64, stopSequences: ["END"], candidateCount: 1, seed: 7, presencePenalty: 0.1, frequencyPenalty: 0.2 });
});

test("multi-turn: system and developer join the system instruction, assistant is model, consecutive turns of one role merge", async (t) => {
  const { gemini, adapter, target } = await setUp(t);
  await adapter.chat(
    paramsWith({
      messages: [
        { role: Role.SYSTEM, content: { case: "text", value: "Be brief." } },
        { role: Role.DEVELOPER, content: { case: "text", value: "Answer in French." } },
        { role: Role.USER, content: { case: "text", value: "one" } },
        { role: Role.USER, content: { case: "text", value: "two" } },
        { role: Role.ASSISTANT, content: { case: "text", value: "un deux" } },
        { role: Role.USER, content: { case: "text", value: "three" } },
      ],
    }),
    target,
    signal(),
  );
  const { body } = gemini.lastRequest();
  t.deepEqual(body.systemInstruction, { parts: [{ text: "Be brief." }, { text: "Answer in French." }] });
  t.deepEqual(body.contents, [
    { role: "user", parts: [{ text: "one" }, { text: "two" }] },
    { role: "model", parts: [{ text: "un deux" }] },
    { role: "user", parts: [{ text: "three" }] },
  ]);
});

test("a raw prompt (legacy completions) is one user turn", async (t) => {
  const { gemini, adapter, target } = await setUp(t);
  const response = await adapter.chat(paramsWith({ messages: [], prompt: "Once upon a time" }), target, signal());
  t.is(response.choices[0]?.message?.content.value, "echo: Once upon a time");
  t.deepEqual(gemini.lastRequest().body.contents, [{ role: "user", parts: [{ text: "Once upon a time" }] }]);
  t.is(gemini.lastRequest().body.systemInstruction, undefined);
});

test("images: data: URLs go inline, https URLs as fileData; plain http is refused before any request", async (t) => {
  const { gemini, adapter, target } = await setUp(t);
  const parts = (url: string) => ({
    messages: [
      {
        role: Role.USER,
        content: { case: "parts" as const, value: { parts: [{ part: { case: "text" as const, value: "What is this?" } }, { part: { case: "imageUrl" as const, value: { url, detail: "" } } }] } },
      },
    ],
  });
  await adapter.chat(paramsWith(parts("data:image/png;base64,iVBORw0KGgo=")), target, signal());
  t.deepEqual(gemini.lastRequest().body.contents, [{ role: "user", parts: [{ text: "What is this?" }, { inlineData: { mimeType: "image/png", data: "iVBORw0KGgo=" } }] }]);

  await adapter.chat(paramsWith(parts("https://example.com/cat.webp?size=2")), target, signal());
  t.deepEqual(gemini.lastRequest().body.contents, [{ role: "user", parts: [{ text: "What is this?" }, { fileData: { fileUri: "https://example.com/cat.webp?size=2", mimeType: "image/webp" } }] }]);

  const count = gemini.requests.length;
  const error = await failureOf(adapter.chat(paramsWith(parts("http://example.com/cat.png")), target, signal()));
  t.is(error.code, Code.InvalidArgument);
  t.regex(error.message, /https/);
  t.is(gemini.requests.length, count, "nothing was sent");
});

test("tools: declarations with a schema Gemini accepts, tool_choice as functionCallingConfig, calls and results as functionCall and functionResponse", async (t) => {
  const { gemini, adapter, target } = await setUp(t);
  const strictTool = {
    type: "function",
    function: {
      name: "lookup",
      description: "Look a word up",
      parameters: { $schema: "http://json-schema.org/draft-07/schema#", type: "object", additionalProperties: false, properties: { word: { type: ["string", "null"], const: "x" }, limit: { type: "integer", default: 3 } }, required: ["word"] },
    },
  };
  await adapter.chat(
    paramsWith({
      tools: [weatherTool, strictTool, { type: "function", function: { name: "now", parameters: { type: "object", properties: {} } } }],
      toolChoice: { choice: { case: "functionName", value: "get_weather" } },
      messages: [
        { role: Role.USER, content: { case: "text", value: "Weather in Paris and Rome?" } },
        {
          role: Role.ASSISTANT,
          content: { case: "text", value: "" },
          toolCalls: [
            { id: "call_0", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
            { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Rome"}' } },
          ],
        },
        { role: Role.TOOL, toolCallId: "call_0", content: { case: "text", value: '{"celsius":21}' } },
        { role: Role.TOOL, toolCallId: "call_1", content: { case: "text", value: "sunny" } },
      ],
    }),
    target,
    signal(),
  );
  const { body } = gemini.lastRequest();
  t.deepEqual(body.tools, [
    {
      functionDeclarations: [
        { name: "get_weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string" } } } },
        { name: "lookup", description: "Look a word up", parameters: { type: "object", properties: { word: { type: "string", nullable: true, enum: ["x"] }, limit: { type: "integer" } }, required: ["word"] } },
        { name: "now" },
      ],
    },
  ]);
  t.deepEqual(body.toolConfig, { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["get_weather"] } });
  t.deepEqual(body.contents, [
    { role: "user", parts: [{ text: "Weather in Paris and Rome?" }] },
    { role: "model", parts: [{ functionCall: { name: "get_weather", args: { city: "Paris" } } }, { functionCall: { name: "get_weather", args: { city: "Rome" } } }] },
    {
      role: "user",
      parts: [{ functionResponse: { name: "get_weather", response: { celsius: 21 } } }, { functionResponse: { name: "get_weather", response: { content: "sunny" } } }],
    },
  ]);

  for (const [mode, expected] of [["auto", "AUTO"], ["none", "NONE"], ["required", "ANY"]] as const) {
    await adapter.chat(paramsWith({ tools: [weatherTool], toolChoice: { choice: { case: "mode", value: mode } } }), target, signal());
    t.deepEqual(gemini.lastRequest().body.toolConfig, { functionCallingConfig: { mode: expected } });
  }
});

test("a model name that would leave models/ in the URL is refused before any request", async (t) => {
  const { gemini, adapter } = await setUp(t);
  const error = await failureOf(adapter.chat(paramsWith(), targetFor(gemini, "../files"), signal()));
  t.is(error.code, Code.InvalidArgument);
  t.is(gemini.requests.length, 0);
});

test("a tool result whose call is nowhere in the conversation is refused: Gemini needs the function's name", async (t) => {
  const { adapter, target } = await setUp(t);
  const error = await failureOf(adapter.chat(paramsWith({ messages: [{ role: Role.USER, content: { case: "text", value: "x" } }, { role: Role.TOOL, toolCallId: "call_9", content: { case: "text", value: "1" } }] }), target, signal()));
  t.is(error.code, Code.InvalidArgument);
});

test("Gemini 3's replayed calls carry Google's documented signature placeholder when the client kept none", async (t) => {
  const { gemini, adapter, target } = await setUp(t, "gemini-3-pro-preview");
  await adapter.chat(
    paramsWith({
      messages: [
        { role: Role.USER, content: { case: "text", value: "Weather?" } },
        { role: Role.ASSISTANT, toolCalls: [{ id: "call_0", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
        { role: Role.TOOL, toolCallId: "call_0", content: { case: "text", value: "sunny" } },
      ],
    }),
    target,
    signal(),
  );
  const contents = gemini.lastRequest().body.contents as { parts: Record<string, unknown>[] }[];
  t.is(contents[1]?.parts[0]?.thoughtSignature, "skip_thought_signature_validator");
});

test("function calls in an answer become tool calls with stable ids and finish reason tool_calls", async (t) => {
  const { gemini, adapter, target } = await setUp(t);
  gemini.script({
    kind: "json",
    body: {
      candidates: [
        {
          content: { parts: [{ functionCall: { name: "get_weather", args: { city: "Paris" } } }, { functionCall: { name: "get_weather", args: { city: "Rome" } } }], role: "model" },
          finishReason: "STOP",
          index: 0,
        },
      ],
      usageMetadata: { promptTokenCount: 29, candidatesTokenCount: 15, totalTokenCount: 44 },
      modelVersion: "gemini-2.5-flash",
      responseId: "b36LacjwM668nsEP2tbsgQQ",
    },
  });
  const response = await adapter.chat(paramsWith({ tools: [weatherTool] }), target, signal());
  const [choice] = response.choices;
  t.is(choice?.finishReason, FinishReason.TOOL_CALLS);
  t.is(choice?.rawFinishReason, "STOP");
  t.is(choice?.message?.content.case, undefined);
  t.deepEqual(
    choice?.message?.toolCalls.map((call) => [call.id, call.type, call.function?.name, call.function?.arguments]),
    [
      ["call_0", "function", "get_weather", '{"city":"Paris"}'],
      ["call_1", "function", "get_weather", '{"city":"Rome"}'],
    ],
  );
});

test("every finish reason maps, and the raw one is kept", async (t) => {
  const { gemini, adapter, target } = await setUp(t);
  const expected: [string, FinishReason][] = [
    ["STOP", FinishReason.STOP],
    ["MAX_TOKENS", FinishReason.LENGTH],
    ["SAFETY", FinishReason.CONTENT_FILTER],
    ["RECITATION", FinishReason.CONTENT_FILTER],
    ["BLOCKLIST", FinishReason.CONTENT_FILTER],
    ["PROHIBITED_CONTENT", FinishReason.CONTENT_FILTER],
    ["SPII", FinishReason.CONTENT_FILTER],
    ["IMAGE_SAFETY", FinishReason.CONTENT_FILTER],
    ["LANGUAGE", FinishReason.STOP],
    ["OTHER", FinishReason.STOP],
    ["MALFORMED_FUNCTION_CALL", FinishReason.STOP],
  ];
  for (const [raw, reason] of expected) {
    gemini.script({ kind: "json", body: { candidates: [textCandidate("partial", raw)], modelVersion: "gemini-2.5-flash" } });
    const [choice] = (await adapter.chat(paramsWith(), target, signal())).choices;
    t.is(choice?.finishReason, reason, raw);
    t.is(choice?.rawFinishReason, raw);
  }
});

test("a prompt Gemini blocks is a content_filter answer with the block reason, streamed or not", async (t) => {
  const { gemini, adapter, target } = await setUp(t);
  const blocked = { promptFeedback: { blockReason: "PROHIBITED_CONTENT" }, usageMetadata: { promptTokenCount: 9, totalTokenCount: 9 }, modelVersion: "gemini-2.5-flash", responseId: "EXCPatOAKMrQjMcPteHVmQo" };
  gemini.script({ kind: "json", body: blocked });
  const [choice] = (await adapter.chat(paramsWith(), target, signal())).choices;
  t.is(choice?.finishReason, FinishReason.CONTENT_FILTER);
  t.is(choice?.rawFinishReason, "PROHIBITED_CONTENT");
  t.is(choice?.message?.content.value, "");

  gemini.script({ kind: "events", chunks: [blocked] });
  const parts = await collect(adapter.chatStream(paramsWith(), target, signal()));
  t.deepEqual(kindsOf(parts), ["finish", "usage"]);
  const finish = parts[0]?.event;
  t.like(finish?.case === "finish" ? finish.value : {}, { reason: FinishReason.CONTENT_FILTER, rawReason: "PROHIBITED_CONTENT" });
});

test("usage: thoughts count as completion and reasoning tokens, cached content as cached prompt tokens", async (t) => {
  const { gemini, adapter, target } = await setUp(t);
  gemini.script({
    kind: "json",
    body: {
      candidates: [textCandidate("There are 3 r's.", "STOP")],
      usageMetadata: { promptTokenCount: 2009, candidatesTokenCount: 28, totalTokenCount: 2281, cachedContentTokenCount: 2000, thoughtsTokenCount: 244 },
      modelVersion: "gemini-2.5-pro",
    },
  });
  const response = await adapter.chat(paramsWith(), target, signal());
  t.like(response.usage, { promptTokens: 2009, completionTokens: 272, totalTokens: 2281, cachedPromptTokens: 2000, reasoningTokens: 244 });
});

test("a stream: text deltas one per event, then the finish, then the usage of the last chunk; asked with alt=sse", async (t) => {
  const { gemini, adapter, target } = await setUp(t);
  const parts = await collect(adapter.chatStream(paramsWith({ messages: [{ role: Role.USER, content: { case: "text", value: "one two three" } }] }), target, signal()));
  t.is(textOf(parts), "echo: one two three");
  t.is(parts.filter((part) => part.event.case === "text").length, 4);
  t.deepEqual(kindsOf(parts), ["text", "finish", "usage"]);
  t.like(parts.at(-1)?.event.value, { promptTokens: 4, completionTokens: 3, totalTokens: 7 });
  t.true(parts.every((part) => part.backend === "google" && part.model === "gemini-2.5-flash"));
  const request = gemini.lastRequest();
  t.is(request.url, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
  t.is(request.headers["x-goog-api-key"], googleKey);
});

test("a streamed function call arrives whole: one tool-call delta with id, name and arguments, then finish tool_calls", async (t) => {
  const { gemini, adapter, target } = await setUp(t);
  gemini.script({
    kind: "events",
    chunks: [
      {
        candidates: [{ content: { parts: [{ functionCall: { name: "weather", args: { location: "San Francisco" } }, thoughtSignature: "EqUCCqICAb4" }], role: "model" }, index: 0 }],
        usageMetadata: { promptTokenCount: 29, candidatesTokenCount: 15, totalTokenCount: 89, thoughtsTokenCount: 45 },
        modelVersion: "gemini-3-pro-preview",
      },
      {
        candidates: [{ content: { parts: [{ text: "" }], role: "model" }, finishReason: "STOP", index: 0 }],
        usageMetadata: { promptTokenCount: 29, candidatesTokenCount: 15, totalTokenCount: 89, thoughtsTokenCount: 45 },
        modelVersion: "gemini-3-pro-preview",
      },
    ],
  });
  const parts = await collect(adapter.chatStream(paramsWith({ tools: [weatherTool] }), target, signal()));
  t.deepEqual(kindsOf(parts), ["reasoning", "toolCall", "finish", "usage"]);
  const call = parts.find((part) => part.event.case === "toolCall")?.event.value;
  t.like(call, { index: 0, id: "call_0", type: "function", name: "weather", arguments: '{"location":"San Francisco"}' });
  t.like(parts.find((part) => part.event.case === "reasoning")?.event.value, { text: "", signature: "EqUCCqICAb4" });
  t.like(parts.find((part) => part.event.case === "finish")?.event.value, { reason: FinishReason.TOOL_CALLS, rawReason: "STOP" });
  t.like(parts.at(-1)?.event.value, { promptTokens: 29, completionTokens: 60, reasoningTokens: 45 });
});

test("a thinking budget asks for thoughts; thought parts come back as reasoning, streamed and whole", async (t) => {
  const { gemini, adapter, target } = await setUp(t);
  const thought = { text: "Counting letters…", thought: true };
  gemini.script({ kind: "events", chunks: [{ candidates: [{ content: { parts: [thought], role: "model" }, index: 0 }] }, { candidates: [textCandidate("Three.", "STOP")], usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 2, thoughtsTokenCount: 256, totalTokenCount: 267 } }] });
  const parts = await collect(adapter.chatStream(paramsWith({ reasoningBudgetTokens: 1024 }), target, signal()));
  t.deepEqual(kindsOf(parts), ["reasoning", "text", "finish", "usage"]);
  t.like(parts[0]?.event.value, { text: "Counting letters…" });
  t.deepEqual(gemini.lastRequest().body.generationConfig, { thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } });

  gemini.script({ kind: "json", body: { candidates: [{ content: { parts: [thought, { text: "Three." }], role: "model" }, finishReason: "STOP", index: 0 }] } });
  const [choice] = (await adapter.chat(paramsWith({ reasoningBudgetTokens: 0 }), target, signal())).choices;
  t.is(choice?.message?.content.value, "Three.");
  t.is(choice?.message?.reasoning[0]?.text, "Counting letters…");
  t.deepEqual(gemini.lastRequest().body.generationConfig, { thinkingConfig: { thinkingBudget: 0 } });
});

test("response_format: json_object and json_schema become responseMimeType and a responseSchema Gemini accepts", async (t) => {
  const { gemini, adapter, target } = await setUp(t);
  await adapter.chat(paramsWith({ responseFormat: { type: "json_object" } }), target, signal());
  t.deepEqual(gemini.lastRequest().body.generationConfig, { responseMimeType: "application/json" });
  const schema = { type: "object", additionalProperties: false, properties: { answer: { type: "string" } }, required: ["answer"] };
  await adapter.chat(paramsWith({ responseFormat: { type: "json_schema", jsonSchema: { name: "reply", strict: true, schema } } }), target, signal());
  t.deepEqual(gemini.lastRequest().body.generationConfig, { responseMimeType: "application/json", responseSchema: { type: "object", properties: { answer: { type: "string" } }, required: ["answer"] } });
});

test("Google's errors: the code from its status, its message in the UpstreamError detail; a refused key is the gateway's 502", async (t) => {
  const { gemini, adapter, target } = await setUp(t);
  const cases: [number, unknown, Code][] = [
    [400, googleError(400, "INVALID_ARGUMENT", "Penalty is not enabled for models/gemini-2.5-flash"), Code.InvalidArgument],
    [404, googleError(404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta"), Code.NotFound],
    [429, googleError(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan.", [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "34.4s" }]), Code.ResourceExhausted],
    [500, googleError(500, "INTERNAL", "An internal error has occurred."), Code.Unavailable],
    [503, googleError(503, "UNAVAILABLE", "The model is overloaded. Please try again later."), Code.Unavailable],
    [504, googleError(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."), Code.DeadlineExceeded],
  ];
  for (const [status, body, code] of cases) {
    gemini.script({ kind: "json", status, body });
    const error = await failureOf(adapter.chat(paramsWith(), target, signal()));
    t.is(error.code, code, String(status));
    const detail = findUpstreamError(error);
    t.is(detail?.httpStatus, status);
    t.is(detail?.message, (body as { error: { message: string } }).error.message);
    t.is(detail?.type, (body as { error: { status: string } }).error.status);
    t.is(detail?.provider, "google");
    if (status === 429) t.is(error.metadata.get("retry-after"), "35");
  }

  const refused = await failureOf(adapter.chat(paramsWith(), targetFor(gemini, "gemini-2.5-flash", "AIzaSy-wrong-key-000000000"), signal()));
  t.is(refused.code, Code.Unavailable);
  t.like(findGatewayError(refused), { httpStatus: 502, code: "upstream_auth_error" });
  t.regex(refused.message, /EXTERNAL_GOOGLE_KEY/);
  t.false(refused.message.includes("AIzaSy-wrong-key"));

  gemini.script({ kind: "json", status: 403, body: googleError(403, "PERMISSION_DENIED", `Permission denied for key ${googleKey}`) });
  const denied = await failureOf(adapter.chat(paramsWith(), target, signal()));
  t.like(findGatewayError(denied), { httpStatus: 502, code: "upstream_auth_error" });
  t.false(JSON.stringify(findUpstreamError(denied) ?? {}).includes(googleKey));
});

test("an error event inside a stream ends it with that error, after the parts before it", async (t) => {
  const { gemini, adapter, target } = await setUp(t);
  gemini.script({ kind: "events", chunks: [{ candidates: [{ content: { parts: [{ text: "Hel" }], role: "model" }, index: 0 }] }, googleError(503, "UNAVAILABLE", "The model is overloaded.")] });
  const { parts, error } = await collectUntilFailure(adapter.chatStream(paramsWith(), target, signal()));
  t.is(textOf(parts), "Hel");
  t.is(error.code, Code.Unavailable);
  t.is(findUpstreamError(error)?.message, "The model is overloaded.");
});

test("a stream cut before its finish reason is an error, not a short answer", async (t) => {
  const { gemini, adapter, target } = await setUp(t);
  gemini.script({ kind: "events", chunks: [{ candidates: [{ content: { parts: [{ text: "Hel" }], role: "model" }, index: 0 }] }] });
  const { error } = await collectUntilFailure(adapter.chatStream(paramsWith(), target, signal()));
  t.is(error.code, Code.Unavailable);
});

test("embeddings: batchEmbedContents with one request per input, outputDimensionality from dimensions", async (t) => {
  const { gemini, adapter, target } = await setUp(t, "gemini-embedding-001");
  const response = await adapter.embed!(create(EmbedRequestSchema, { model: "google/gemini-embedding-001", inputs: ["a", "bcd"], dimensions: 2 }), target, signal());
  t.deepEqual(response.embeddings.map((embedding) => [embedding.index, embedding.values.map((value) => Math.round(value * 10) / 10)]), [
    [0, [1, 1.1]],
    [1, [3, 3.1]],
  ]);
  t.is(response.backend, "google");
  const request = gemini.lastRequest();
  t.is(request.url, "/v1beta/models/gemini-embedding-001:batchEmbedContents");
  t.is(request.headers["x-goog-api-key"], googleKey);
  t.deepEqual(request.body, {
    requests: [
      { model: "models/gemini-embedding-001", content: { parts: [{ text: "a" }] }, outputDimensionality: 2 },
      { model: "models/gemini-embedding-001", content: { parts: [{ text: "bcd" }] }, outputDimensionality: 2 },
    ],
  });
});

test("the model list: every page (pageToken), ids without the models/ prefix, the key in its header", async (t) => {
  const { gemini, adapter, target } = await setUp(t, "");
  const models = await adapter.listModels!(target, signal());
  t.deepEqual(models.map((model) => [model.id, model.contextLength]), [
    ["gemini-2.5-flash", 1048576],
    ["gemini-2.5-pro", 1048576],
    ["gemini-embedding-001", 2048],
  ]);
  t.deepEqual(gemini.requests.map((request) => [request.method, request.url, request.headers["x-goog-api-key"]]), [
    ["GET", "/v1beta/models?pageSize=1000", googleKey],
    ["GET", "/v1beta/models?pageSize=1000&pageToken=page-2", googleKey],
  ]);
});

test("token counts: countTokens with the whole request", async (t) => {
  const { gemini, adapter, target } = await setUp(t);
  t.is(await adapter.countTokens!(paramsWith({ tools: [weatherTool] }), target, signal()), 31);
  const request = gemini.lastRequest();
  t.is(request.url, "/v1beta/models/gemini-2.5-flash:countTokens");
  const inner = request.body.generateContentRequest as Record<string, unknown>;
  t.is(inner.model, "models/gemini-2.5-flash");
  t.deepEqual(inner.contents, [{ role: "user", parts: [{ text: "hello world" }] }]);
  t.truthy(inner.tools);
});

test("JSON Schema keywords Gemini refuses are dropped, recursively", (t) => {
  t.deepEqual(
    jsonSchemaToGoogle({ $schema: "x", $id: "y", type: "object", additionalProperties: false, properties: { list: { type: "array", items: { type: "object", additionalProperties: true, properties: { n: { type: "number", exclusiveMinimum: 0 } } } } } }),
    { type: "object", properties: { list: { type: "array", items: { type: "object", properties: { n: { type: "number" } } } } } },
  );
});

test("through `iir all` with the official OpenAI SDK: google/<model> answers whole and streamed", async (t) => {
  const gemini = await startFakeGemini(googleKey);
  t.teardown(() => gemini.close());
  const directory = temporaryDirectory(t);
  const facadePort = await freePort();
  const iir = stopOnTeardown(
    t,
    spawnIir(["all"], {
      IIR_HOST: "127.0.0.1",
      SQLITE_DB_PATH: path.join(directory, "iir.db"),
      IIR_FACADE_PORT: String(facadePort),
      IIR_ROUTER_PORT: String(await freePort()),
      IIR_AGENT_ENABLED: "false",
      CACHE_TTL: "0",
      GOOGLE_BASE_URL: gemini.baseUrl,
      EXTERNAL_GOOGLE_KEY: googleKey,
    }),
  );
  await iir.waitForLog("iir started");
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${facadePort}/v1`, apiKey: "unused", maxRetries: 0 });

  const { data, response } = await client.chat.completions.create({ model: "google/gemini-2.5-flash", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "hello there" }] }).withResponse();
  t.is(data.choices[0]?.message.content, "echo: hello there");
  t.is(data.choices[0]?.finish_reason, "stop");
  t.is(data.usage?.total_tokens, 7);
  t.is(response.headers.get("x-iir-backend"), "google");
  t.is(gemini.lastRequest().url, "/v1beta/models/gemini-2.5-flash:generateContent");

  const stream = await client.chat.completions.create({ model: "google/gemini-2.5-flash", messages: [{ role: "user", content: "one two three" }], stream: true, stream_options: { include_usage: true } });
  let text = "";
  const finishReasons: string[] = [];
  let usage: OpenAI.CompletionUsage | null | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? "";
    if (chunk.choices[0]?.finish_reason) finishReasons.push(chunk.choices[0].finish_reason);
    if (chunk.usage) usage = chunk.usage;
  }
  t.is(text, "echo: one two three");
  t.deepEqual(finishReasons, ["stop"]);
  t.is(usage?.completion_tokens, 3);
});
