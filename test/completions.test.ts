import test from "ava";
import OpenAI from "openai";
import { create } from "@bufbuild/protobuf";
import { ChatParamsSchema, Role } from "../gen/iir/inference/v1/inference_pb.js";
import { validateChatParams } from "../services/common/validate-chat-params.js";
import type { RunningAgent } from "../services/agent/server.js";
import { startTestAgent } from "./support/agent-fixtures.js";
import { startFakeCompletionsUpstream, type FakeCompletionsUpstream } from "./support/fake-openai-completions.js";
import { startMesh, type TestMesh } from "./support/mesh.js";

// POST /v1/completions (OpenAI's legacy text completions) through the whole mesh, with the official
// SDK: an OpenAI-compatible upstream that speaks the completions wire format, and the local agent.
const upstreamKey = "sk-fake-completions-0000";
const agentModel = "local/iir-tiny";
let upstream: FakeCompletionsUpstream;
let mesh: TestMesh;
let agent: RunningAgent;
let client: OpenAI;

test.before(async () => {
  upstream = await startFakeCompletionsUpstream({ apiKey: upstreamKey });
  mesh = await startMesh({ OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: upstreamKey, IIR_PROVIDER_MODELS_REFRESH_MS: "0" });
  agent = await startTestAgent(mesh.routerUrl);
  client = new OpenAI({ baseURL: mesh.facadeUrl, apiKey: "unused", maxRetries: 0 });
});

test.after.always(async () => {
  await agent?.close(1000);
  await mesh?.close();
  await upstream?.close();
});

test.serial("a completion from an OpenAI-compatible upstream comes back as text_completion; the upstream got its /completions", async (t) => {
  const { data, response } = await client.completions.create({ model: "openai/gpt-3.5-turbo-instruct", prompt: "Say this is a test", temperature: 0, stop: ["\n"], user: "u-1" }).withResponse();
  t.is(data.object, "text_completion");
  t.regex(data.id, /^cmpl-/);
  t.true(Number.isInteger(data.created));
  t.is(data.model, "gpt-3.5-turbo-instruct", "the model the upstream reported");
  t.is(data.choices[0]?.text, " continued: Say this is a test");
  t.is(data.choices[0]?.finish_reason, "length");
  t.is(data.choices[0]?.logprobs, null);
  t.is(data.choices[0]?.index, 0);
  t.true(data.usage!.total_tokens > 0);
  t.is(response.headers.get("x-iir-backend"), "openai");
  const forwarded = upstream.lastRequest();
  t.is(forwarded.path, "/v1/completions");
  t.is(forwarded.headers.authorization, `Bearer ${upstreamKey}`);
  t.like(forwarded.body, { model: "gpt-3.5-turbo-instruct", prompt: "Say this is a test", max_tokens: 16, temperature: 0, stop: ["\n"], user: "u-1" });
  t.false("messages" in (forwarded.body ?? {}), "no chat messages are sent");
});

test.serial("a streamed completion arrives chunk by chunk as text_completion objects, with a finish reason, usage and [DONE]", async (t) => {
  const stream = await client.completions.create({ model: "openai/gpt-3.5-turbo-instruct", prompt: "one two three", max_tokens: 50, stream: true, stream_options: { include_usage: true } });
  let text = "";
  let chunks = 0;
  const finishReasons: string[] = [];
  const ids = new Set<string>();
  let usage: OpenAI.CompletionUsage | undefined | null;
  for await (const chunk of stream) {
    t.is(chunk.object, "text_completion");
    ids.add(chunk.id);
    const choice = chunk.choices[0];
    if (choice?.text) {
      text += choice.text;
      chunks += 1;
    }
    if (choice?.finish_reason) finishReasons.push(choice.finish_reason);
    if (chunk.usage) usage = chunk.usage;
  }
  t.is(text, " continued: one two three");
  t.true(chunks >= 4, "each upstream chunk is forwarded on its own");
  t.deepEqual(finishReasons, ["length"]);
  t.is(ids.size, 1);
  t.true(usage!.completion_tokens > 0);
  t.like(upstream.lastRequest().body, { stream: true, max_tokens: 50, prompt: "one two three" });
});

test.serial("a raw SSE stream ends with data: [DONE] and carries no event: lines", async (t) => {
  const response = await fetch(`${mesh.facadeUrl}/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "openai/gpt-3.5-turbo-instruct", prompt: "hi", stream: true }),
  });
  t.is(response.status, 200);
  t.regex(response.headers.get("content-type") ?? "", /^text\/event-stream/);
  const body = await response.text();
  t.true(body.endsWith("data: [DONE]\n\n"));
  t.false(body.includes("event:"));
  const first = JSON.parse(body.split("\n\n")[0]!.slice("data: ".length)) as Record<string, unknown>;
  t.deepEqual(Object.keys(first), ["id", "object", "created", "model", "choices"]);
});

test.serial("an array holding one prompt is that prompt; the upstream's own error reaches the client", async (t) => {
  const data = await client.completions.create({ model: "openai/gpt-3.5-turbo-instruct", prompt: ["only one"] });
  t.is(data.choices[0]?.text, " continued: only one");
  const error = await t.throwsAsync(client.completions.create({ model: "openai/fail-400", prompt: "x" }));
  t.true(error instanceof OpenAI.BadRequestError);
  t.is((error as InstanceType<typeof OpenAI.BadRequestError>).param, "prompt");
  t.regex(error!.message, /too spicy/);
});

test.serial("prompt shapes and parameters the gateway cannot serve are 400s that say why", async (t) => {
  const refused = async (body: Record<string, unknown>) => {
    const response = await fetch(`${mesh.facadeUrl}/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "openai/gpt-3.5-turbo-instruct", ...body }) });
    t.is(response.status, 400, JSON.stringify(body));
    return ((await response.json()) as { error: { message: string; param: string | null; code: string | null; type: string } }).error;
  };
  const before = upstream.requests.length;
  t.like(await refused({ prompt: ["a", "b"] }), { param: "prompt", code: "unsupported_value", type: "invalid_request_error" });
  t.regex((await refused({ prompt: [1, 2, 3] })).message, /token ids/);
  t.like(await refused({}), { param: "prompt", code: "missing_required_parameter" });
  t.like(await refused({ prompt: "x", echo: true }), { param: "echo", code: "unsupported_parameter" });
  t.like(await refused({ prompt: "x", suffix: "end" }), { param: "suffix", code: "unsupported_parameter" });
  t.like(await refused({ prompt: "x", logprobs: 5 }), { param: "logprobs", code: "unsupported_parameter" });
  t.like(await refused({ prompt: "x", best_of: 3 }), { param: "best_of", code: "unsupported_parameter" });
  t.like(await refused({ prompt: "x", max_tokens: 0 }), { param: "max_tokens" });
  t.is(upstream.requests.length, before, "nothing refused reached the upstream");
  const accepted = await client.completions.create({ model: "openai/gpt-3.5-turbo-instruct", prompt: "x", echo: false, best_of: 1, logprobs: null, suffix: null });
  t.is(accepted.object, "text_completion", "defaults are accepted");
});

test.serial("the local agent continues a raw prompt without a chat template, whole and streamed", async (t) => {
  const { data, response } = await client.completions.create({ model: agentModel, prompt: "Once upon a time", max_tokens: 6, temperature: 0 }).withResponse();
  t.is(data.object, "text_completion");
  t.is(typeof data.choices[0]?.text, "string");
  t.true(["stop", "length"].includes(data.choices[0]?.finish_reason ?? ""));
  t.true(data.usage!.prompt_tokens > 0 && data.usage!.prompt_tokens < 20, `a raw prompt counts only its own tokens (${data.usage!.prompt_tokens})`);
  t.true(data.usage!.completion_tokens <= 6);
  t.is(response.headers.get("x-iir-backend"), agent.id);

  const stream = await client.completions.create({ model: agentModel, prompt: "Once upon a time", max_tokens: 6, temperature: 0, stream: true, stream_options: { include_usage: true } });
  let finish: string | null | undefined;
  let usage: OpenAI.CompletionUsage | undefined | null;
  for await (const chunk of stream) {
    t.is(chunk.object, "text_completion");
    finish = chunk.choices[0]?.finish_reason ?? finish;
    usage = chunk.usage ?? usage;
  }
  t.true(finish === "stop" || finish === "length");
  t.true(usage!.completion_tokens <= 6);
});

test.serial("a chat request to the same agent still goes through the chat template (it counts more prompt tokens)", async (t) => {
  const raw = await client.completions.create({ model: agentModel, prompt: "Hello", max_tokens: 1 });
  const chat = await client.chat.completions.create({ model: agentModel, messages: [{ role: "user", content: "Hello" }], max_tokens: 1 });
  t.true(chat.usage!.prompt_tokens > raw.usage!.prompt_tokens);
});

test("the contract takes a raw prompt or messages, exactly one of the two", (t) => {
  const message = { role: Role.USER, content: { case: "text" as const, value: "hi" } };
  t.notThrows(() => validateChatParams(create(ChatParamsSchema, { model: "m", prompt: "Once" })));
  t.notThrows(() => validateChatParams(create(ChatParamsSchema, { model: "m", prompt: "" })));
  t.notThrows(() => validateChatParams(create(ChatParamsSchema, { model: "m", messages: [message] })));
  t.throws(() => validateChatParams(create(ChatParamsSchema, { model: "m", prompt: "Once", messages: [message] })), { message: /exclude each other/ });
  t.throws(() => validateChatParams(create(ChatParamsSchema, { model: "m" })), { message: /at least one message/ });
});
