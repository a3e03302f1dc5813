import test from "ava";
import OpenAI from "openai";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { adminRegistry } from "./support/admin.js";
import { startMesh, type TestMesh } from "./support/mesh.js";

// The official SDK against the facade of a whole mesh, the upstream a fake that speaks OpenAI's wire format.
const upstreamKey = "sk-fake-upstream-key-0000";
let upstream: FakeUpstream;
let spare: FakeUpstream;
let mesh: TestMesh;
let client: OpenAI;

test.before(async () => {
  upstream = await startFakeUpstream({ apiKey: upstreamKey });
  spare = await startFakeUpstream();
  mesh = await startMesh({ OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: upstreamKey, IIR_MAX_BODY: "64kb" });
  // maxRetries 0: a test about one error must see that error, not the SDK's retry of it.
  client = new OpenAI({ baseURL: mesh.facadeUrl, apiKey: "unused", maxRetries: 0 });
});

test.after.always(async () => {
  await mesh?.close();
  await upstream?.close();
  await spare?.close();
});

const hello = [{ role: "user" as const, content: "hello there" }];

test.serial("a non-streaming completion comes back as OpenAI's chat.completion, with backend and request id headers", async (t) => {
  const { data, response } = await client.chat.completions
    .create({ model: "openai/gpt-4o-mini", messages: hello }, { headers: { "x-request-id": "trace-me-42" } })
    .withResponse();
  t.is(data.object, "chat.completion");
  t.is(data.choices[0]?.message.content, "echo: hello there");
  t.is(data.choices[0]?.finish_reason, "stop");
  t.true(Number.isInteger(data.created));
  t.true(data.usage!.total_tokens > 0);
  t.is(response.headers.get("x-iir-backend"), "openai");
  t.is(response.headers.get("x-request-id"), "trace-me-42");
  const forwarded = upstream.lastRequest();
  t.is(forwarded.headers.authorization, `Bearer ${upstreamKey}`);
  t.is((forwarded.body as { model: string }).model, "gpt-4o-mini", "the provider prefix is not sent upstream");
});

test.serial("a stream arrives delta by delta, ends with a finish reason and, when asked, a usage chunk", async (t) => {
  const stream = await client.chat.completions.create({
    model: "openai/gpt-4o-mini",
    messages: [{ role: "user", content: "one two three four" }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  const finishReasons: string[] = [];
  let usage: OpenAI.CompletionUsage | undefined | null;
  let deltas = 0;
  const ids = new Set<string>();
  for await (const chunk of stream) {
    ids.add(chunk.id);
    t.is(chunk.object, "chat.completion.chunk");
    const choice = chunk.choices[0];
    if (choice?.delta.content) {
      text += choice.delta.content;
      deltas += 1;
    }
    if (choice?.finish_reason) finishReasons.push(choice.finish_reason);
    if (chunk.usage) usage = chunk.usage;
  }
  t.is(text, "echo: one two three four");
  t.true(deltas >= 4, "each upstream delta is forwarded on its own, not buffered into one");
  t.deepEqual(finishReasons, ["stop"]);
  t.is(ids.size, 1, "every chunk carries the same id");
  t.true(usage!.completion_tokens > 0);
});

test.serial("chunks split at odd byte boundaries, CRLF and keep-alive comments parse to the same answer", async (t) => {
  const stream = await client.chat.completions.create({ model: "openai/wire-stress", messages: hello, stream: true });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
  t.is(text, "echo: hello there");
});

test.serial("tool calls stream back as OpenAI tool_call deltas the SDK can assemble", async (t) => {
  const runner = client.chat.completions.stream({
    model: "openai/gpt-4o-mini",
    messages: [{ role: "user", content: "weather in Paris?" }],
    tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }],
  });
  const completion = await runner.finalChatCompletion();
  const call = completion.choices[0]?.message.tool_calls?.[0];
  t.is(completion.choices[0]?.finish_reason, "tool_calls");
  t.is(call?.type === "function" ? call.function.name : undefined, "get_weather");
  t.notThrows(() => JSON.parse(call?.type === "function" ? call.function.arguments : ""));
});

test.serial("fields the facade has no typed home for reach the upstream untouched", async (t) => {
  await client.chat.completions.create({
    model: "openai/gpt-4o-mini",
    messages: hello,
    temperature: 0.5,
    logit_bias: { "50256": -100 },
    metadata: { team: "search" },
    // @ts-expect-error a provider-specific field the SDK does not know
    top_k: 40,
  });
  const body = upstream.lastRequest().body as Record<string, unknown>;
  t.deepEqual(body.logit_bias, { "50256": -100 });
  t.deepEqual(body.metadata, { team: "search" });
  t.is(body.top_k, 40);
  t.is(body.temperature, 0.5);
});

test.serial("GET /v1/models lists registry models and retrieves one whose id has a slash", async (t) => {
  const registry = adminRegistry(mesh.routerUrl);
  await registry.upsertModel({ model: { name: "team/chat", provider: "openai", upstreamModel: "gpt-4o-mini", enabled: true } });
  const ids: string[] = [];
  for await (const model of client.models.list()) ids.push(model.id);
  t.true(ids.includes("team/chat"));
  const model = await client.models.retrieve("team/chat");
  t.is(model.object, "model");
  t.is(model.owned_by, "openai");
  const missing = await t.throwsAsync(client.models.retrieve("no-such-model"));
  t.true(missing instanceof OpenAI.NotFoundError);
});

test.serial("invalid requests get OpenAI 400 errors naming the param, and the server keeps serving", async (t) => {
  const badRole = await t.throwsAsync(
    // @ts-expect-error a role OpenAI rejects
    client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: [{ role: "robot", content: "hi" }] }),
  );
  t.true(badRole instanceof OpenAI.BadRequestError);
  t.is((badRole as InstanceType<typeof OpenAI.BadRequestError>).param, "messages[0].role");
  const badTemperature = await t.throwsAsync(client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: hello, temperature: 9 }));
  t.is((badTemperature as InstanceType<typeof OpenAI.BadRequestError>).param, "temperature");
  const notJson = await fetch(`${mesh.facadeUrl}/chat/completions`, { method: "POST", body: "{not json", headers: { "content-type": "application/json" } });
  t.is(notJson.status, 400);
  t.is(((await notJson.json()) as { error: { type: string } }).error.type, "invalid_request_error");
  const after = await client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: hello });
  t.is(after.choices[0]?.message.content, "echo: hello there");
});

test.serial("an unknown model is 404 model_not_found", async (t) => {
  const error = await t.throwsAsync(client.chat.completions.create({ model: "nobody-has-this", messages: hello }));
  t.true(error instanceof OpenAI.NotFoundError);
  t.is((error as InstanceType<typeof OpenAI.NotFoundError>).code, "model_not_found");
});

test.serial("a body over IIR_MAX_BODY is 413", async (t) => {
  const error = await t.throwsAsync(client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "x".repeat(70_000) }] }));
  t.true(error instanceof OpenAI.APIError);
  t.is((error as InstanceType<typeof OpenAI.APIError>).status, 413);
});

test.serial("the upstream's own errors reach the client with their status, type, param and code; its key never does", async (t) => {
  const badRequest = await t.throwsAsync(client.chat.completions.create({ model: "openai/fail-400", messages: hello }));
  t.true(badRequest instanceof OpenAI.BadRequestError);
  t.is((badRequest as InstanceType<typeof OpenAI.BadRequestError>).param, "messages");
  t.is((badRequest as InstanceType<typeof OpenAI.BadRequestError>).code, "invalid_value");

  const limited = await t.throwsAsync(client.chat.completions.create({ model: "openai/fail-429", messages: hello }));
  t.true(limited instanceof OpenAI.RateLimitError);
  t.truthy((limited as InstanceType<typeof OpenAI.RateLimitError>).headers?.get("retry-after"));

  const unauthorized = await t.throwsAsync(client.chat.completions.create({ model: "openai/fail-401", messages: hello }));
  t.false(unauthorized instanceof OpenAI.AuthenticationError, "the provider refused IIR's key, not the client's");
  t.is((unauthorized as InstanceType<typeof OpenAI.APIError>).status, 502);
  t.is((unauthorized as InstanceType<typeof OpenAI.APIError>).code, "upstream_auth_error");
  t.false(unauthorized!.message.includes(upstreamKey), "the upstream echoed our key; the gateway must not");

  const html = await t.throwsAsync(client.chat.completions.create({ model: "openai/fail-html", messages: hello }));
  t.true(html instanceof OpenAI.APIError);
  t.true((html as InstanceType<typeof OpenAI.APIError>).status! >= 500);
});

test.serial("an upstream that drops the connection mid-stream ends the stream with an error the SDK raises", async (t) => {
  const stream = await client.chat.completions.create({ model: "openai/drop-mid-stream", messages: hello, stream: true });
  let text = "";
  const error = await t.throwsAsync(async () => {
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
  });
  t.true(error instanceof OpenAI.APIError);
  t.true(text.length > 0, "the deltas before the drop were delivered");
});

test.serial("an error event from the upstream mid-stream reaches the client as an error event", async (t) => {
  const stream = await client.chat.completions.create({ model: "openai/error-mid-stream", messages: hello, stream: true });
  const error = await t.throwsAsync(async () => {
    for await (const chunk of stream) void chunk;
  });
  t.true(error instanceof OpenAI.APIError);
  t.regex(error!.message, /server/i);
});

test.serial("a registry model falls back to the next in its list when its upstream fails before the first byte", async (t) => {
  const registry = adminRegistry(mesh.routerUrl);
  await registry.upsertModel({ model: { name: "steady", provider: "openai", baseUrl: spare.baseUrl, upstreamModel: "gpt-4o-mini", enabled: true } });
  await registry.upsertModel({
    model: { name: "flaky", provider: "openai", upstreamModel: "fail-503", apiKeyEnv: "EXTERNAL_OPENAI_KEY", fallbacks: ["steady"], enabled: true },
  });
  const before = spare.requests.length;
  const { data, response } = await client.chat.completions.create({ model: "flaky", messages: hello }).withResponse();
  t.is(data.choices[0]?.message.content, "echo: hello there");
  t.is(spare.requests.length, before + 1, "the fallback upstream answered");
  t.truthy(response.headers.get("x-iir-backend"));

  const stream = await client.chat.completions.create({ model: "flaky", messages: hello, stream: true });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
  t.is(text, "echo: hello there");
});

test.serial("a client that goes away mid-stream cancels the upstream request", async (t) => {
  const closed = upstream.whenClosedByClient();
  const controller = new AbortController();
  const stream = await client.chat.completions.create({ model: "openai/hang-mid-stream", messages: hello, stream: true }, { signal: controller.signal });
  const iterator = stream[Symbol.asyncIterator]();
  await iterator.next();
  controller.abort();
  await closed;
  t.pass("the upstream saw its connection closed");
  const after = await client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: hello });
  t.is(after.choices[0]?.message.content, "echo: hello there");
});
