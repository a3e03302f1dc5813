import path from "node:path";
import test from "ava";
import Anthropic from "@anthropic-ai/sdk";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { tinyModel } from "./support/agent-fixtures.js";
import { spawnIir, type IirProcess } from "./support/iir-process.js";
import { freePort } from "./support/process-fixtures.js";
import fs from "node:fs";
import os from "node:os";

// Anthropic's Messages API at the facade of a real `iir all`, through the official SDK (1.16, which
// sends Bearer and anthropic-version 2026-10-21), for an OpenAI-compatible backend (the fake) and
// the local agent's tiny model. A second `iir all` requires API keys.

const localModel = "local/iir-tiny";
const weatherTool = {
  name: "get_weather",
  description: "The weather in a city",
  input_schema: { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] },
};

interface RunningIir {
  readonly process: IirProcess;
  readonly url: string;
  readonly directory: string;
}

let upstream: FakeUpstream;
let open: RunningIir;
let locked: RunningIir;
let client: Anthropic;

async function startIir(env: Record<string, string>): Promise<RunningIir> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "iir-anthropic-"));
  const facadePort = await freePort();
  const process = spawnIir(["all"], {
    IIR_HOST: "127.0.0.1",
    SQLITE_DB_PATH: path.join(directory, "iir.db"),
    IIR_FACADE_PORT: String(facadePort),
    IIR_ROUTER_PORT: String(await freePort()),
    IIR_AGENT_PORT: String(await freePort()),
    IIR_AGENT_THREADS: "1",
    IIR_AGENT_GPU: "false",
    OPENAI_BASE_URL: upstream.baseUrl,
    EXTERNAL_OPENAI_KEY: "sk-upstream",
    CACHE_TTL: "0",
    ...env,
  });
  await process.waitForLog("iir started", 60_000);
  return { process, url: `http://127.0.0.1:${facadePort}`, directory };
}

test.before(async () => {
  upstream = await startFakeUpstream();
  const model = await tinyModel();
  [open, locked] = await Promise.all([
    startIir({ IIR_AGENT_MODEL: model, IIR_MAX_BODY: "64kb" }),
    startIir({ IIR_AGENT_ENABLED: "false", IIR_REQUIRE_AUTH: "true" }),
  ]);
  // maxRetries 0: a test about one error must see that error, not the SDK's retry of it.
  client = new Anthropic({ baseURL: open.url, apiKey: "unused", maxRetries: 0 });
});

test.after.always(async () => {
  for (const running of [open, locked]) {
    if (running === undefined) continue;
    running.process.kill("SIGTERM");
    await running.process.exited;
    fs.rmSync(running.directory, { recursive: true, force: true });
  }
  await upstream?.close();
});

test.serial("messages.create: a system prompt and a user turn come back as an Anthropic message with end_turn and usage", async (t) => {
  const { data: message, response } = await client.messages
    .create({ model: "openai/gpt-4o-mini", max_tokens: 100, system: "Be brief.", messages: [{ role: "user", content: "hello there" }] })
    .withResponse();
  t.regex(message.id, /^msg_/);
  t.is(message.type, "message");
  t.is(message.role, "assistant");
  t.deepEqual(message.content, [{ type: "text", text: "echo: hello there" }]);
  t.is(message.stop_reason, "end_turn");
  t.is(message.stop_sequence, null);
  t.true(message.usage.input_tokens > 0);
  t.true(message.usage.output_tokens > 0);
  t.is(response.headers.get("x-iir-backend"), "openai");
  t.truthy(response.headers.get("request-id"));
  const sent = upstream.lastRequest().body as { messages: unknown[]; max_tokens: number };
  t.deepEqual(sent.messages, [
    { role: "system", content: "Be brief." },
    { role: "user", content: "hello there" },
  ]);
  t.is(sent.max_tokens, 100);
});

test.serial("messages.stream: text arrives as text_delta events in Anthropic's event order; usage comes in message_delta", async (t) => {
  const stream = client.messages.stream({ model: "openai/gpt-4o-mini", max_tokens: 100, messages: [{ role: "user", content: "one two three four" }] });
  const types: string[] = [];
  let text = "";
  stream.on("streamEvent", (event) => types.push(event.type));
  stream.on("text", (delta) => (text += delta));
  const final = await stream.finalMessage();
  t.is(text, "echo: one two three four");
  t.deepEqual(final.content, [{ type: "text", text: "echo: one two three four" }]);
  t.is(final.stop_reason, "end_turn");
  t.true(final.usage.output_tokens > 0);
  t.true(final.usage.input_tokens > 0, "message_delta carries the input tokens the stream learned at its end");
  t.is(types[0], "message_start");
  t.is(types[1], "content_block_start");
  t.true(types.filter((type) => type === "content_block_delta").length >= 4, "each upstream delta is its own event");
  t.deepEqual(types.slice(-3), ["content_block_stop", "message_delta", "message_stop"]);
  const sent = upstream.lastRequest().body as { stream: boolean; stream_options?: { include_usage: boolean } };
  t.true(sent.stream);
  t.deepEqual(sent.stream_options, { include_usage: true }, "usage is always asked for");
});

test.serial("messages.stream: a tool call streams as a tool_use block whose input_json_delta pieces the SDK assembles", async (t) => {
  const stream = client.messages.stream({
    model: "openai/gpt-4o-mini",
    max_tokens: 100,
    tools: [weatherTool],
    messages: [{ role: "user", content: "weather in Paris?" }],
  });
  let pieces = 0;
  stream.on("inputJson", () => (pieces += 1));
  const final = await stream.finalMessage();
  t.is(final.stop_reason, "tool_use");
  const call = final.content[0];
  t.is(call?.type, "tool_use");
  if (call?.type !== "tool_use") return;
  t.is(call.name, "get_weather");
  t.deepEqual(call.input, { echo: "weather in Paris?" });
  t.true(pieces > 1, "the arguments came in several input_json_delta pieces");
  const sent = upstream.lastRequest().body as { tools: unknown[] };
  t.deepEqual(sent.tools, [{ type: "function", function: { name: "get_weather", description: "The weather in a city", parameters: weatherTool.input_schema } }]);
});

test.serial("a tool round trip: tool_use and tool_result reach the backend as tool calls and a tool message", async (t) => {
  const first = await client.messages.create({
    model: "openai/gpt-4o-mini",
    max_tokens: 100,
    tools: [weatherTool],
    tool_choice: { type: "tool", name: "get_weather", disable_parallel_tool_use: true },
    messages: [{ role: "user", content: "weather in Paris?" }],
  });
  t.is(first.stop_reason, "tool_use");
  const call = first.content.find((block) => block.type === "tool_use");
  if (call?.type !== "tool_use") return t.fail("no tool_use block");
  const forced = upstream.lastRequest().body as { tool_choice: unknown; parallel_tool_calls: unknown };
  t.deepEqual(forced.tool_choice, { type: "function", function: { name: "get_weather" } });
  t.is(forced.parallel_tool_calls, false);

  const second = await client.messages.create({
    model: "openai/gpt-4o-mini",
    max_tokens: 100,
    tools: [weatherTool],
    tool_choice: { type: "none" },
    messages: [
      { role: "user", content: "weather in Paris?" },
      { role: "assistant", content: first.content },
      { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "sunny, 21°C" }] },
    ],
  });
  t.deepEqual(second.content, [{ type: "text", text: "echo: weather in Paris?" }]);
  const sent = upstream.lastRequest().body as { messages: Record<string, unknown>[] };
  t.like(sent.messages[1], { role: "assistant", tool_calls: [{ id: call.id, type: "function", function: { name: "get_weather", arguments: JSON.stringify(call.input) } }] });
  t.deepEqual(sent.messages[2], { role: "tool", content: "sunny, 21°C", tool_call_id: call.id });
});

test.serial("stop reasons: a backend cut at its length limit is max_tokens, streamed or not", async (t) => {
  const whole = await client.messages.create({ model: "openai/finish-length", max_tokens: 5, messages: [{ role: "user", content: "long" }] });
  t.is(whole.stop_reason, "max_tokens");
  const streamed = await client.messages.stream({ model: "openai/finish-length", max_tokens: 5, messages: [{ role: "user", content: "long" }] }).finalMessage();
  t.is(streamed.stop_reason, "max_tokens");
});

test.serial("the local agent answers and counts tokens with its own tokenizer: count_tokens equals the prompt a generation uses", async (t) => {
  const messages = [{ role: "user" as const, content: "count these few words please" }];
  const counted = await client.messages.countTokens({ model: localModel, system: "You count.", messages });
  t.true(counted.input_tokens > 0);
  const longer = await client.messages.countTokens({ model: localModel, system: "You count.", messages: [{ role: "user", content: "count these few words please, and these many more words as well" }] });
  t.true(longer.input_tokens > counted.input_tokens);
  const answer = await client.messages.create({ model: localModel, max_tokens: 4, system: "You count.", messages });
  t.is(answer.usage.input_tokens, counted.input_tokens, "the count is the prompt the generation reported");
  t.true(answer.usage.output_tokens <= 4);
  t.true(answer.stop_reason === "max_tokens" || answer.stop_reason === "end_turn");
  const streamed = await client.messages.stream({ model: localModel, max_tokens: 4, messages }).finalMessage();
  t.true(streamed.usage.output_tokens > 0);
});

test.serial("count_tokens for a backend that cannot count is a 400 invalid_request_error", async (t) => {
  const error = await t.throwsAsync(client.messages.countTokens({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "x" }] }));
  t.true(error instanceof Anthropic.BadRequestError);
  t.is((error as InstanceType<typeof Anthropic.BadRequestError>).type, "invalid_request_error");
  t.regex(error!.message, /counting tokens is not supported/);
});

test.serial("invalid requests get Anthropic's error shape with a 400, and the server keeps serving", async (t) => {
  const missingMaxTokens = await t.throwsAsync(
    // @ts-expect-error max_tokens is required, as at Anthropic
    client.messages.create({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
  );
  t.true(missingMaxTokens instanceof Anthropic.BadRequestError);
  const body = (missingMaxTokens as InstanceType<typeof Anthropic.BadRequestError>).error as { type: string; error: { type: string; message: string } };
  t.is(body.type, "error");
  t.is(body.error.type, "invalid_request_error");
  t.regex(body.error.message, /max_tokens/);

  // A role the Messages API does not have (the SDK's types would let it through).
  const badRole = await t.throwsAsync(
    client.messages.create({ model: "openai/gpt-4o-mini", max_tokens: 10, messages: [{ role: "system" as "user", content: "hi" }] }),
  );
  t.regex(badRole!.message, /messages\.0\.role/);

  const notJson = await fetch(`${open.url}/v1/messages`, { method: "POST", body: "{not json", headers: { "content-type": "application/json" } });
  t.is(notJson.status, 400);
  t.like(await notJson.json(), { type: "error", error: { type: "invalid_request_error" } });

  const tooLarge = await fetch(`${open.url}/v1/messages`, {
    method: "POST",
    body: JSON.stringify({ model: "openai/gpt-4o-mini", max_tokens: 10, messages: [{ role: "user", content: "x".repeat(70_000) }] }),
  });
  t.is(tooLarge.status, 413);
  t.like(await tooLarge.json(), { type: "error", error: { type: "request_too_large" } });

  const after = await client.messages.create({ model: "openai/gpt-4o-mini", max_tokens: 10, messages: [{ role: "user", content: "still here" }] });
  t.deepEqual(after.content, [{ type: "text", text: "echo: still here" }]);
});

test.serial("an unknown model is 404 not_found_error", async (t) => {
  const error = await t.throwsAsync(client.messages.create({ model: "nobody-has-this", max_tokens: 10, messages: [{ role: "user", content: "x" }] }));
  t.true(error instanceof Anthropic.NotFoundError);
  t.is((error as InstanceType<typeof Anthropic.NotFoundError>).type, "not_found_error");
  const counting = await t.throwsAsync(client.messages.countTokens({ model: "nobody-has-this", messages: [{ role: "user", content: "x" }] }));
  t.true(counting instanceof Anthropic.NotFoundError);
});

test.serial("upstream failures keep their status with Anthropic's error types; a failure mid-stream is an error event", async (t) => {
  const limited = await t.throwsAsync(client.messages.create({ model: "openai/fail-429", max_tokens: 10, messages: [{ role: "user", content: "x" }] }));
  t.true(limited instanceof Anthropic.RateLimitError);
  t.is((limited as InstanceType<typeof Anthropic.RateLimitError>).type, "rate_limit_error");
  t.truthy((limited as InstanceType<typeof Anthropic.RateLimitError>).headers?.get("retry-after"));

  const down = await t.throwsAsync(client.messages.create({ model: "openai/fail-503", max_tokens: 10, messages: [{ role: "user", content: "x" }] }));
  t.true(down instanceof Anthropic.InternalServerError);
  t.is((down as InstanceType<typeof Anthropic.InternalServerError>).type, "overloaded_error");

  const stream = client.messages.stream({ model: "openai/error-mid-stream", max_tokens: 10, messages: [{ role: "user", content: "a b c d" }] });
  let text = "";
  stream.on("text", (delta) => (text += delta));
  const midStream = await t.throwsAsync(stream.finalMessage());
  t.true(midStream instanceof Anthropic.APIError);
  // The upstream's server_error mid-stream: its backend failed (Unavailable), which Anthropic calls overloaded.
  t.is((midStream as InstanceType<typeof Anthropic.APIError>).type, "overloaded_error");
  t.true(text.length > 0, "the deltas before the failure were delivered");
});

test.serial("with keys required: no key is 401 authentication_error; the key works as Bearer (SDK 1.x) and as x-api-key (SDK 0.x)", async (t) => {
  const keyless = new Anthropic({ baseURL: locked.url, apiKey: "unused", maxRetries: 0, defaultHeaders: { authorization: null } });
  const missing = await t.throwsAsync(keyless.messages.create({ model: "openai/gpt-4o-mini", max_tokens: 10, messages: [{ role: "user", content: "x" }] }));
  t.true(missing instanceof Anthropic.AuthenticationError);
  t.is((missing as InstanceType<typeof Anthropic.AuthenticationError>).type, "authentication_error");

  const created = await spawnIir(["keys", "create", "--name", "anthropic-client"], { SQLITE_DB_PATH: path.join(locked.directory, "iir.db") }).exited;
  t.is(created.code, 0, created.stderr);
  const key = created.stdout.split("\n").find((line) => /^iir-[0-9A-Za-z]{40}$/.test(line))!;
  const bearer = new Anthropic({ baseURL: locked.url, apiKey: key, maxRetries: 0 });
  const request = { model: "openai/gpt-4o-mini", max_tokens: 10, messages: [{ role: "user" as const, content: "keyed" }] };
  // The router re-reads keys from its registry file every few seconds.
  let answer: Anthropic.Message | undefined;
  for (let tries = 0; answer === undefined && tries < 100; tries++) {
    answer = await bearer.messages.create(request).catch((error: unknown) => {
      if (error instanceof Anthropic.AuthenticationError) return new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 100));
      throw error;
    });
  }
  t.deepEqual(answer?.content, [{ type: "text", text: "echo: keyed" }]);

  const legacy = await fetch(`${locked.url}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": key, "anthropic-version": "2023-06-01", "anthropic-beta": "prompt-caching-2024-07-31" },
    body: JSON.stringify(request),
  });
  t.is(legacy.status, 200);
  t.like(await legacy.json(), { type: "message", content: [{ type: "text", text: "echo: keyed" }] });
  const wrong = await fetch(`${locked.url}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": `iir-${"x".repeat(40)}` },
    body: JSON.stringify(request),
  });
  t.is(wrong.status, 401);
  t.like(await wrong.json(), { type: "error", error: { type: "authentication_error" } });
});
