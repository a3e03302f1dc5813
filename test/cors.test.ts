import test from "ava";
import { startMesh, type TestMesh } from "./support/mesh.js";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { loadConfig, ConfigError } from "../services/common/config.js";

// CORS for browser clients: off by default; IIR_CORS_ORIGINS allows `*` or listed origins, preflights
// are answered before authentication, and every answer (errors and streams too) carries the origin.
let upstream: FakeUpstream;
let listed: TestMesh;
let any: TestMesh;
let off: TestMesh;
const app = "https://app.example.com";

test.before(async () => {
  upstream = await startFakeUpstream();
  const providers = { OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-x", IIR_PROVIDER_MODELS_REFRESH_MS: "0" };
  listed = await startMesh({ ...providers, IIR_CORS_ORIGINS: `${app}, http://localhost:5173`, IIR_REQUIRE_AUTH: "true" });
  any = await startMesh({ ...providers, IIR_CORS_ORIGINS: "*" });
  off = await startMesh(providers);
});

test.after.always(async () => {
  await Promise.all([listed?.close(), any?.close(), off?.close()]);
  await upstream?.close();
});

const preflight = (mesh: TestMesh, origin: string, headers = "authorization, content-type, x-stainless-os, x-stainless-retry-count") =>
  fetch(`${mesh.facadeUrl}/chat/completions`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": headers },
  });

test("a preflight from a listed origin is answered before authentication, with the headers the browser asked for", async (t) => {
  const response = await preflight(listed, app);
  t.is(response.status, 204);
  t.is(response.headers.get("access-control-allow-origin"), app);
  t.regex(response.headers.get("access-control-allow-methods") ?? "", /POST/);
  t.regex(response.headers.get("access-control-allow-headers") ?? "", /authorization/);
  t.regex(response.headers.get("access-control-allow-headers") ?? "", /x-stainless-os/);
  t.is(response.headers.get("access-control-max-age"), "600");
  t.is(response.headers.get("access-control-allow-credentials"), "true");
  t.regex(response.headers.get("vary") ?? "", /Origin/);
});

test("an origin not listed gets no CORS headers", async (t) => {
  const response = await preflight(listed, "https://evil.example.net");
  t.is(response.headers.get("access-control-allow-origin"), null);
  const answer = await fetch(`${listed.facadeUrl}/models`, { headers: { origin: "https://evil.example.net" } });
  t.is(answer.headers.get("access-control-allow-origin"), null);
});

test("errors carry the origin too, so the browser can read them", async (t) => {
  // IIR_REQUIRE_AUTH: no key, a 401 in OpenAI's shape.
  const response = await fetch(`${listed.facadeUrl}/chat/completions`, {
    method: "POST",
    headers: { origin: app, "content-type": "application/json" },
    body: JSON.stringify({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
  });
  t.is(response.status, 401);
  t.is(response.headers.get("access-control-allow-origin"), app);
  t.regex(response.headers.get("access-control-expose-headers") ?? "", /x-request-id/);
  const body = (await response.json()) as { error: { type: string } };
  t.truthy(body.error.type);
});

test("with * every origin is allowed, streams included, and credentials never", async (t) => {
  const flight = await preflight(any, "http://localhost:3000", "authorization, x-api-key, anthropic-version");
  t.is(flight.status, 204);
  t.is(flight.headers.get("access-control-allow-origin"), "*");
  t.is(flight.headers.get("access-control-allow-credentials"), null);
  t.regex(flight.headers.get("access-control-allow-headers") ?? "", /anthropic-version/);
  const stream = await fetch(`${any.facadeUrl}/chat/completions`, {
    method: "POST",
    headers: { origin: "http://localhost:3000", "content-type": "application/json" },
    body: JSON.stringify({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "hi" }], stream: true }),
  });
  t.is(stream.status, 200);
  t.is(stream.headers.get("access-control-allow-origin"), "*");
  t.is(stream.headers.get("access-control-allow-credentials"), null);
  t.true((await stream.text()).endsWith("data: [DONE]\n\n"));
});

test("CORS is off by default: no headers, and OPTIONS is not answered as a preflight", async (t) => {
  const flight = await preflight(off, app);
  t.is(flight.headers.get("access-control-allow-origin"), null);
  t.not(flight.status, 204);
  const answer = await fetch(`${off.facadeUrl}/models`, { headers: { origin: app } });
  t.is(answer.status, 200);
  t.is(answer.headers.get("access-control-allow-origin"), null);
});

test("IIR_CORS_ORIGINS refuses what is not an origin, naming it", (t) => {
  const error = t.throws(() => loadConfig({ IIR_CORS_ORIGINS: "https://ok.example.com, https://bad.example.com/path, nonsense" }), { instanceOf: ConfigError });
  t.regex(error!.message, /bad\.example\.com\/path/);
  t.regex(error!.message, /nonsense/);
  t.deepEqual(loadConfig({ IIR_CORS_ORIGINS: "https://OK.example.com/" }).corsOrigins, ["https://ok.example.com"]);
});
