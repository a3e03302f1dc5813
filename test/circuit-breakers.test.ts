import test, { type ExecutionContext } from "ava";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { adminRegistry } from "./support/admin.js";
import { startMesh, type TestMesh } from "./support/mesh.js";

// Circuit breakers per backend, and fallbacks for a primary that cannot be called at all, through the facade.

const hello = [{ role: "user" as const, content: "hello there" }];
const cooldownMs = 300;

interface Setup {
  readonly mesh: TestMesh;
  readonly primary: FakeUpstream;
  readonly spare: FakeUpstream;
  readonly logs: string[];
}

/** A mesh with breakers opening after 3 failures, a failing-prone `primary` and a `spare` it falls back to. */
async function setUp(t: ExecutionContext): Promise<Setup> {
  const primary = await startFakeUpstream();
  const spare = await startFakeUpstream();
  const logs: string[] = [];
  const mesh = await startMesh(
    {
      OPENAI_BASE_URL: spare.baseUrl,
      EXTERNAL_OPENAI_KEY: "sk-upstream",
      IIR_BREAKER_FAILURES: "3",
      IIR_BREAKER_COOLDOWN_MS: String(cooldownMs),
      IIR_BREAKER_MAX_COOLDOWN_MS: "10000",
      LOG_LEVEL: "info",
    },
    { writeLog: (line) => logs.push(line) },
  );
  t.teardown(async () => {
    await mesh.close();
    await primary.close();
    await spare.close();
  });
  const registry = adminRegistry(mesh.routerUrl);
  await registry.upsertModel({ model: { name: "steady", provider: "openai", baseUrl: spare.baseUrl, upstreamModel: "gpt-4o-mini", enabled: true } });
  await registry.upsertModel({
    model: { name: "flaky", provider: "openai", baseUrl: primary.baseUrl, upstreamModel: "gpt-x", apiKeyEnv: "EXTERNAL_OPENAI_KEY", fallbacks: ["steady"], enabled: true },
  });
  return { mesh, primary, spare, logs };
}

async function chat(mesh: TestMesh, model: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${mesh.facadeUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, messages: hello }),
  });
  return { status: response.status, body: await response.text() };
}

function chatRequests(upstream: FakeUpstream): number {
  return upstream.requests.filter((request) => request.path.startsWith("/v1/chat/completions")).length;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("after N failures the breaker opens, requests go straight to the fallback, one probe tests the backend, a success closes it", async (t) => {
  const { mesh, primary, spare, logs } = await setUp(t);
  primary.script({ kind: "error", status: 500 }, { kind: "error", status: 500 }, { kind: "error", status: 500 });
  for (let index = 0; index < 3; index++) t.is((await chat(mesh, "flaky")).status, 200, "the fallback answers while the primary fails");
  t.is(chatRequests(primary), 3);

  const sparesBefore = chatRequests(spare);
  for (let index = 0; index < 3; index++) t.is((await chat(mesh, "flaky")).status, 200);
  t.is(chatRequests(primary), 3, "the open breaker keeps requests from the failing upstream");
  t.is(chatRequests(spare), sparesBefore + 3);
  t.true(logs.some((line) => line.includes("circuit breaker opened") && line.includes('"level":"warn"')));
  t.false(logs.some((line) => line.includes("sk-upstream")), "no key in the log");
  const metrics = await (await fetch(mesh.metricsUrl)).text();
  t.regex(metrics, /iir_breaker_state\{backend="openai:gpt-x@http:\/\/127\.0\.0\.1:\d+\/v1"\} 2/);

  // After the cooldown, of three requests at once exactly one probes the upstream (which fails again, slowly).
  await sleep(cooldownMs + 100);
  primary.script({ kind: "error", status: 500, headersDelayMs: 200 });
  const together = await Promise.all([chat(mesh, "flaky"), chat(mesh, "flaky"), chat(mesh, "flaky")]);
  t.deepEqual(together.map((answer) => answer.status), [200, 200, 200]);
  t.is(chatRequests(primary), 4, "exactly one probe reached the upstream");

  // The failed probe doubled the cooldown; once it is over the upstream has recovered and the breaker closes.
  await sleep(2 * cooldownMs + 200);
  t.is((await chat(mesh, "flaky")).status, 200);
  t.is(chatRequests(primary), 5, "the probe reached the recovered upstream");
  t.is((await chat(mesh, "flaky")).status, 200);
  t.is(chatRequests(primary), 6, "the closed breaker lets every request through");
  t.true(logs.some((line) => line.includes("circuit breaker closed") && line.includes('"level":"info"')));
});

test("a 429 with retry-after opens the breaker for about that long", async (t) => {
  const { mesh, primary } = await setUp(t);
  primary.script({ kind: "error", status: 429, headers: { "retry-after": "2" } });
  const startedAt = Date.now();
  t.is((await chat(mesh, "flaky")).status, 200, "the fallback answers the rate-limited request");
  t.is((await chat(mesh, "flaky")).status, 200);
  t.is(chatRequests(primary), 1, "one 429 was enough to open the breaker");
  // Generous bounds: the breaker is still open well inside the 2 s, and open no longer than the maximum.
  if (Date.now() - startedAt < 1500) t.is(chatRequests(primary), 1);
  const deadline = Date.now() + 10_000;
  while (chatRequests(primary) === 1 && Date.now() < deadline) {
    await chat(mesh, "flaky");
    await sleep(100);
  }
  t.is(chatRequests(primary), 2, "the upstream is tried again after the retry-after");
  t.true(Date.now() - startedAt >= 1900, "not before the retry-after was over");
});

test("when every candidate's breaker is open the request gets 503 at once, naming the backend", async (t) => {
  const { mesh, primary } = await setUp(t);
  await adminRegistry(mesh.routerUrl).upsertModel({
    model: { name: "lonely", provider: "openai", baseUrl: primary.baseUrl, upstreamModel: "fail-500", apiKeyEnv: "EXTERNAL_OPENAI_KEY", enabled: true },
  });
  // The upstream's own 500 reaches the client while the breaker is still closed.
  for (let index = 0; index < 3; index++) t.true((await chat(mesh, "lonely")).status >= 500);
  const refused = await chat(mesh, "lonely");
  t.is(refused.status, 503);
  t.regex(refused.body, /circuit breaker/);
  t.regex(refused.body, /fail-500/);
  t.regex(refused.body, /until \d{4}-\d\d-\d\dT/);
  t.is(chatRequests(primary), 3, "the refused request never reached the upstream");
});

test("a registry model whose primary has no API key falls back; without a fallback the error stays", async (t) => {
  const { mesh, primary, spare } = await setUp(t);
  const registry = adminRegistry(mesh.routerUrl);
  await registry.upsertModel({
    model: { name: "keyless", provider: "openai", baseUrl: primary.baseUrl, upstreamModel: "gpt-x", apiKeyEnv: "EXTERNAL_MISSING_KEY", fallbacks: ["steady"], enabled: true },
  });
  await registry.upsertModel({
    model: { name: "keyless-alone", provider: "openai", baseUrl: primary.baseUrl, upstreamModel: "gpt-x", apiKeyEnv: "EXTERNAL_MISSING_KEY", enabled: true },
  });
  const before = chatRequests(spare);
  const answered = await chat(mesh, "keyless");
  t.is(answered.status, 200);
  t.is(chatRequests(spare), before + 1, "the fallback answered");
  const alone = await chat(mesh, "keyless-alone");
  t.is(alone.status, 503);
  t.regex(alone.body, /EXTERNAL_MISSING_KEY/);
  t.is(chatRequests(primary), 0);
});

test("a prompt too long for the model moves to a fallback with a larger context; without one the 400 stays", async (t) => {
  const { mesh, primary, spare } = await setUp(t);
  const registry = adminRegistry(mesh.routerUrl);
  await registry.upsertModel({ model: { name: "small-window", provider: "openai", baseUrl: primary.baseUrl, upstreamModel: "gpt-x", contextLength: 8192, fallbacks: ["same-window", "wide-window"], enabled: true } });
  await registry.upsertModel({ model: { name: "same-window", provider: "openai", baseUrl: primary.baseUrl, upstreamModel: "gpt-y", contextLength: 8192, enabled: true } });
  await registry.upsertModel({ model: { name: "wide-window", provider: "openai", baseUrl: spare.baseUrl, upstreamModel: "gpt-4o-mini", contextLength: 128000, enabled: true } });
  await registry.upsertModel({ model: { name: "small-alone", provider: "openai", baseUrl: primary.baseUrl, upstreamModel: "gpt-x", contextLength: 8192, enabled: true } });
  // OpenAI's own answer to a prompt over the window.
  const tooLong = {
    kind: "error" as const,
    status: 400,
    error: { message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.", type: "invalid_request_error", param: "messages", code: "context_length_exceeded" },
  };
  primary.script(tooLong, tooLong);
  const before = chatRequests(spare);
  const moved = await chat(mesh, "small-window");
  t.is(moved.status, 200, moved.body);
  t.is(chatRequests(primary), 1, "the fallback with the same window is not tried");
  t.is(chatRequests(spare), before + 1, "the larger-context fallback answered");

  const alone = await chat(mesh, "small-alone");
  t.is(alone.status, 400);
  t.is(JSON.parse(alone.body).error.code, "context_length_exceeded");
});
