import test from "ava";
import OpenAI from "openai";
import type { Kysely } from "kysely";
import { createApiKey, revokeApiKey } from "../services/router/registry/api-keys.repository.js";
import { openDatabase } from "../services/router/registry/database.js";
import type { Database } from "../services/router/registry/schema.js";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { startMesh, type TestMesh } from "./support/mesh.js";

// API keys at the facade, through the official SDK. Keys are written by a second connection to the
// registry file, as `iir keys` does from another process; the running facade must notice by itself.

let upstream: FakeUpstream;
let mesh: TestMesh;
let admin: Kysely<Database>;

test.before(async () => {
  upstream = await startFakeUpstream();
  mesh = await startMesh({ OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-upstream" });
  admin = openDatabase(mesh.dbPath);
});

test.after.always(async () => {
  await admin?.destroy();
  await mesh?.close();
  await upstream?.close();
});

const hello = [{ role: "user" as const, content: "hello there" }];

function clientWith(apiKey: string): OpenAI {
  // maxRetries 0: a test about one refusal must see that refusal.
  return new OpenAI({ baseURL: mesh.facadeUrl, apiKey, maxRetries: 0 });
}

/** Polls `check` until it holds; fails after `withinMs` (the facade re-reads keys every IIR_REGISTRY_REFRESH_MS). */
async function eventually(check: () => Promise<boolean>, withinMs = 2000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return check();
}

async function statusWith(authorization: string | undefined): Promise<number> {
  const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
  const response = await fetch(`${mesh.facadeUrl}/models`, { headers });
  await response.arrayBuffer();
  return response.status;
}

test.serial("with no keys the facade is open; once a key exists the SDK needs it, and a key created while running works", async (t) => {
  const open = await clientWith("anything").chat.completions.create({ model: "openai/gpt-4o-mini", messages: hello });
  t.is(open.choices[0]?.message.content, "echo: hello there");

  const { key } = await createApiKey(admin, { name: "team-a" });
  t.true(await eventually(async () => (await statusWith(undefined)) === 401), "the facade noticed the new key without a restart");

  // The SDK insists on a key; a null default header removes the Authorization it would send.
  const keyless = new OpenAI({ baseURL: mesh.facadeUrl, apiKey: "unused", maxRetries: 0, defaultHeaders: { authorization: null } });
  const missing = await t.throwsAsync(keyless.models.list());
  t.true(missing instanceof OpenAI.AuthenticationError);
  const missingError = missing as InstanceType<typeof OpenAI.AuthenticationError>;
  t.is(missingError.status, 401);
  t.is(missingError.code, "invalid_api_key");
  t.is(missingError.type, "invalid_request_error");
  t.regex(missingError.message, /You didn't provide an API key/);

  const wrongKey = `iir-${"x".repeat(36)}WXYZ`;
  const wrong = await t.throwsAsync(clientWith(wrongKey).chat.completions.create({ model: "openai/gpt-4o-mini", messages: hello }));
  t.true(wrong instanceof OpenAI.AuthenticationError);
  t.is((wrong as InstanceType<typeof OpenAI.AuthenticationError>).code, "invalid_api_key");
  t.regex(wrong!.message, /Incorrect API key provided: iir-\.\.\.WXYZ\./);
  t.false(wrong!.message.includes(wrongKey), "the presented key is never echoed whole");
  t.is(upstream.requests.length, 1, "refused requests never reach a backend");

  const answer = await clientWith(key).chat.completions.create({ model: "openai/gpt-4o-mini", messages: hello });
  t.is(answer.choices[0]?.message.content, "echo: hello there");
  const models = await clientWith(key).models.list();
  t.true(Array.isArray(models.data));
  t.is(await statusWith(`bearer ${key}`), 200, "the scheme is case-insensitive");
  t.is(await statusWith(`Basic ${key}`), 401);
});

test.serial("/health and /ready stay open while /v1 needs a key; unknown /v1 paths are 404 in OpenAI's shape", async (t) => {
  t.is((await fetch(mesh.facadeUrl.replace(/\/v1$/, "/health"))).status, 200);
  t.is((await fetch(mesh.facadeUrl.replace(/\/v1$/, "/ready"))).status, 200);
  const models = await fetch(`${mesh.facadeUrl}/models`);
  t.is(models.status, 401);
  const body = (await models.json()) as { error: Record<string, unknown> };
  t.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
  t.like(body.error, { type: "invalid_request_error", param: null, code: "invalid_api_key" });
  t.regex(String(body.error.message), /^You didn't provide an API key\. You need to provide your API key in an Authorization header using Bearer auth/);
  const unknown = await fetch(`${mesh.facadeUrl}/no-such-route`);
  t.is(unknown.status, 404);
  t.like(((await unknown.json()) as { error: Record<string, unknown> }).error, { type: "invalid_request_error" });
});

test.serial("a revoked key stops working within a refresh, while other keys keep working", async (t) => {
  const { key: kept } = await createApiKey(admin, { name: "keeper" });
  const { key: leaked } = await createApiKey(admin, { name: "leaked" });
  t.true(await eventually(async () => (await statusWith(`Bearer ${leaked}`)) === 200));
  t.is(await revokeApiKey(admin, "leaked"), "revoked");
  t.true(await eventually(async () => (await statusWith(`Bearer ${leaked}`)) === 401), "revocation takes effect without a restart");
  const refused = await t.throwsAsync(clientWith(leaked).models.list());
  t.true(refused instanceof OpenAI.AuthenticationError);
  t.regex(refused!.message, new RegExp(`Incorrect API key provided: iir-\\.\\.\\.${leaked.slice(-4)}`));
  t.is(await statusWith(`Bearer ${kept}`), 200);
});

test.serial("revoking every key leaves the facade closed, not open to anyone", async (t) => {
  for (const name of ["team-a", "keeper"]) t.is(await revokeApiKey(admin, name), "revoked");
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(await statusWith(undefined), 401);
  t.is(await statusWith("Bearer iir-anything-at-all-00000000"), 401);
});

test("IIR_REQUIRE_AUTH=true refuses every /v1 request while no key exists", async (t) => {
  const closed = await startMesh({ IIR_REQUIRE_AUTH: "true" });
  t.teardown(() => closed.close());
  const client = new OpenAI({ baseURL: closed.facadeUrl, apiKey: "iir-not-a-real-key-0000000000000000", maxRetries: 0 });
  const error = await t.throwsAsync(client.models.list());
  t.true(error instanceof OpenAI.AuthenticationError);
  t.regex(error!.message, /Incorrect API key provided/);
  const bare = await fetch(`${closed.facadeUrl}/models`);
  t.is(bare.status, 401);
  t.regex(((await bare.json()) as { error: { message: string } }).error.message, /You didn't provide an API key/);
  t.is((await fetch(closed.facadeUrl.replace(/\/v1$/, "/health"))).status, 200);
});
