import test from "ava";
import OpenAI from "openai";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { adminRegistry } from "./support/admin.js";
import { startMesh, type TestMesh } from "./support/mesh.js";

// Model names as SDK users type them (`gpt-4o-mini`) reach the provider that owns them, when no
// registry entry or live agent claims the name and that provider is configured here.
const upstreamKey = "sk-fake-bare-names";
let upstream: FakeUpstream;
let groq: FakeUpstream;
let mesh: TestMesh;
let client: OpenAI;

test.before(async () => {
  upstream = await startFakeUpstream({ apiKey: upstreamKey });
  groq = await startFakeUpstream();
  // Anthropic and Google are left unconfigured: their names must say what to set.
  mesh = await startMesh({ OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: upstreamKey, GROQ_BASE_URL: groq.baseUrl, EXTERNAL_GROQ_KEY: "gsk", IIR_PROVIDER_MODELS_REFRESH_MS: "0" });
  client = new OpenAI({ baseURL: mesh.facadeUrl, apiKey: "unused", maxRetries: 0 });
});

test.after.always(async () => {
  await mesh?.close();
  await upstream?.close();
  await groq?.close();
});

const hello = [{ role: "user" as const, content: "hello there" }];

test.serial("a bare OpenAI name goes to the openai provider under its own name; model and x-iir-backend say so", async (t) => {
  for (const name of ["gpt-4o-mini", "o3", "o4-mini"]) {
    const { data, response } = await client.chat.completions.create({ model: name, messages: hello }).withResponse();
    t.is(data.choices[0]?.message.content, "echo: hello there");
    t.is(response.headers.get("x-iir-backend"), "openai", name);
    t.is((upstream.lastRequest().body as { model: string }).model, name, "sent upstream as the client typed it");
    t.is(data.model, name);
  }
  const stream = await client.chat.completions.create({ model: "gpt-4o-mini", messages: hello, stream: true });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
  t.is(text, "echo: hello there");
});

test.serial("a name of a provider that is not configured is 404 model_not_found naming the variable to set", async (t) => {
  const error = await t.throwsAsync(client.chat.completions.create({ model: "claude-sonnet-4-5", messages: hello }));
  t.true(error instanceof OpenAI.NotFoundError, String(error));
  t.is((error as InstanceType<typeof OpenAI.NotFoundError>).code, "model_not_found");
  t.regex(error!.message, /claude-sonnet-4-5/);
  // Anthropic may or may not be a provider of this build's configuration; either way the answer is a 404.
  if (mesh.config.providers.anthropic !== undefined) t.regex(error!.message, /EXTERNAL_ANTHROPIC_KEY|ANTHROPIC/);
});

test.serial("names no provider owns stay 404, open-weight families included", async (t) => {
  for (const name of ["llama-3.1-8b-instant", "my-own-model"]) {
    const error = await t.throwsAsync(client.chat.completions.create({ model: name, messages: hello }));
    t.true(error instanceof OpenAI.NotFoundError, name);
    t.is((error as InstanceType<typeof OpenAI.NotFoundError>).code, "model_not_found");
  }
  t.is(groq.requests.filter((request) => request.method === "POST").length, 0, "groq is configured but owns no bare name");
});

test.serial("a registry entry of the same name wins over the prefix table", async (t) => {
  await adminRegistry(mesh.routerUrl).upsertModel({ model: { name: "gpt-4o-team", provider: "groq", upstreamModel: "llama-3.1-8b-instant", enabled: true } });
  const { response } = await client.chat.completions.create({ model: "gpt-4o-team", messages: hello }).withResponse();
  t.is(response.headers.get("x-iir-backend"), "groq");
  t.is((groq.lastRequest().body as { model: string }).model, "llama-3.1-8b-instant");
});
