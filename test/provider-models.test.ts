import test from "ava";
import OpenAI from "openai";
import { adminRegistry } from "./support/admin.js";
import { startFakeCompletionsUpstream, type FakeCompletionsUpstream } from "./support/fake-openai-completions.js";
import { startMesh, type TestMesh } from "./support/mesh.js";

// GET /v1/models lists what each configured provider offers (`<provider>/<id>`), read in the
// background from the provider's own GET /models, beside registry models and live agents.
const openAIKey = "sk-fake-models-openai";
const groqKey = "gsk-fake-models-groq";
const openAIModels = ["gpt-4o-mini", "gpt-4.1"];
let openAI: FakeCompletionsUpstream;
let groq: FakeCompletionsUpstream;
let mesh: TestMesh;
let client: OpenAI;
const logLines: string[] = [];

test.before(async () => {
  openAI = await startFakeCompletionsUpstream({ apiKey: openAIKey, models: openAIModels });
  groq = await startFakeCompletionsUpstream({ apiKey: groqKey, modelsStatus: 500 });
  mesh = await startMesh(
    { OPENAI_BASE_URL: openAI.baseUrl, EXTERNAL_OPENAI_KEY: openAIKey, GROQ_BASE_URL: groq.baseUrl, EXTERNAL_GROQ_KEY: groqKey, IIR_PROVIDER_MODELS_REFRESH_MS: "100", LOG_LEVEL: "warn" },
    { writeLog: (line) => logLines.push(line) },
  );
  client = new OpenAI({ baseURL: mesh.facadeUrl, apiKey: "unused", maxRetries: 0 });
});

test.after.always(async () => {
  await mesh?.close();
  await openAI?.close();
  await groq?.close();
});

async function listedIds(): Promise<OpenAI.Model[]> {
  const models: OpenAI.Model[] = [];
  for await (const model of client.models.list()) models.push(model);
  return models;
}

/** Lists until `wanted` appears: the provider lists are read in the background. */
async function listUntil(wanted: string): Promise<OpenAI.Model[]> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const models = await listedIds();
    if (models.some((model) => model.id === wanted)) return models;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${wanted} never appeared in GET /v1/models`);
}

test.serial("a configured provider's models are listed as <provider>/<id>, owned by the provider, beside registry models", async (t) => {
  await adminRegistry(mesh.routerUrl).upsertModel({ model: { name: "team/chat", provider: "openai", upstreamModel: "gpt-4o-mini", enabled: true } });
  const models = await listUntil("openai/gpt-4.1");
  const mini = models.find((model) => model.id === "openai/gpt-4o-mini");
  t.like(mini, { object: "model", owned_by: "openai", created: 1_686_935_002 });
  t.true(models.some((model) => model.id === "team/chat"), "registry models stay listed");
  const request = openAI.requests.find((entry) => entry.path === "/v1/models");
  t.is(request?.method, "GET");
  t.is(request?.headers.authorization, `Bearer ${openAIKey}`);
});

test.serial("a provider that fails to answer is left out, with a warning that holds no secret", async (t) => {
  const models = await listUntil("openai/gpt-4o-mini");
  t.false(models.some((model) => model.id.startsWith("groq/")));
  const warnings = logLines.filter((line) => line.includes("model list could not be read"));
  t.true(warnings.length >= 1);
  const warning = JSON.parse(warnings[0]!) as Record<string, unknown>;
  t.is(warning.provider, "groq");
  t.regex(String(warning.reason), /HTTP 500/);
  t.false(warnings.some((line) => line.includes(groqKey) || line.includes(groq.baseUrl)), "neither key nor address reach the log");
});

test.serial("models the provider adds appear at the next refresh", async (t) => {
  openAIModels.push("gpt-5-fake");
  await listUntil("openai/gpt-5-fake");
  t.pass();
});

test.serial("GET /v1/models/{id} answers provider, registry and unknown names as OpenAI does", async (t) => {
  await listUntil("openai/gpt-4o-mini");
  const model = await client.models.retrieve("openai/gpt-4o-mini");
  t.like(model, { id: "openai/gpt-4o-mini", object: "model", owned_by: "openai" });
  t.is((await client.models.retrieve("team/chat")).id, "team/chat");
  const error = await t.throwsAsync(client.models.retrieve("openai/no-such-model"));
  t.true(error instanceof OpenAI.NotFoundError);
  t.is((error as InstanceType<typeof OpenAI.NotFoundError>).code, "model_not_found");
});
