import path from "node:path";
import test, { type ExecutionContext } from "ava";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { spawnIir } from "./support/iir-process.js";
import { stopOnTeardown, temporaryDirectory } from "./support/process-fixtures.js";
import { startSplitMesh } from "./support/split-mesh.js";

// llm-d's scheduling headers (its InferenceObjective and session affinity) go from the client's
// request to llm-d targets, in `iir all` (in-process) and split mode (gRPC metadata over h2c), and
// nowhere else; no other client header travels with them.

/** An llm-d and an OpenAI upstream of the test's own, so tests running at once never see each other's requests. */
async function upstreams(t: ExecutionContext): Promise<{ llmd: FakeUpstream; openai: FakeUpstream }> {
  const llmd = await startFakeUpstream();
  t.teardown(() => llmd.close());
  const openai = await startFakeUpstream();
  t.teardown(() => openai.close());
  return { llmd, openai };
}

const scheduling = { "x-llm-d-inference-objective": "premium-traffic", "x-session-token": "ZGVmYXVsdC92bGxtLTAuMTAuMC4xNzo4MDAw" };

async function chat(facadeUrl: string, model: string, headers: Record<string, string>, stream = false): Promise<string> {
  const response = await fetch(`${facadeUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ model, stream, messages: [{ role: "user", content: "schedule me" }] }),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${model}: ${response.status} ${text}`);
  return text;
}

/** The scheduling headers reach llm-d on unary and streaming calls; openai/… never sees them; the rest stays behind. */
async function assertPassedToLlmdOnly(t: ExecutionContext, facadeUrl: string, { llmd, openai }: { llmd: FakeUpstream; openai: FakeUpstream }): Promise<void> {
  for (const stream of [false, true]) {
    t.regex(await chat(facadeUrl, "llm-d/granite-8b", { ...scheduling, "x-other-header": "stays" }, stream), /echo:[\s\S]*schedule/, "the answer comes back");
    const upstream = llmd.lastRequest();
    t.is(upstream.body.model, "granite-8b");
    t.is(upstream.headers["x-llm-d-inference-objective"], "premium-traffic", `objective (stream: ${stream})`);
    t.is(upstream.headers["x-session-token"], scheduling["x-session-token"], `session token (stream: ${stream})`);
    t.is(upstream.headers["x-other-header"], undefined, "only the two scheduling headers are passed on");
  }

  const openaiBefore = openai.requests.length;
  await chat(facadeUrl, "openai/gpt-4o-mini", scheduling);
  t.is(openai.requests.length, openaiBefore + 1);
  const toOpenAI = openai.lastRequest();
  t.is(toOpenAI.headers["x-llm-d-inference-objective"], undefined, "other providers never get llm-d's headers");
  t.is(toOpenAI.headers["x-session-token"], undefined);
}

test("iir all: llm-d/<model> gets the client's x-llm-d-inference-objective and x-session-token; openai/<model> does not", async (t) => {
  const { llmd, openai } = await upstreams(t);
  const directory = temporaryDirectory(t);
  const iir = stopOnTeardown(
    t,
    spawnIir(["all"], {
      IIR_HOST: "127.0.0.1",
      IIR_FACADE_PORT: "0",
      IIR_ROUTER_PORT: "0",
      IIR_AGENT_ENABLED: "false",
      SQLITE_DB_PATH: path.join(directory, "iir.db"),
      LLMD_ENDPOINT: llmd.baseUrl,
      OPENAI_BASE_URL: openai.baseUrl,
      EXTERNAL_OPENAI_KEY: "sk-test",
      CACHE_TTL: "0",
    }),
  );
  const started = await iir.waitForLog("iir started");
  await assertPassedToLlmdOnly(t, String(started.facade), { llmd, openai });
  iir.kill("SIGTERM");
  t.is((await iir.exited).code, 0);
});

test("split mode: the headers cross the facade → router hop as gRPC metadata and reach llm-d only", async (t) => {
  const { llmd, openai } = await upstreams(t);
  const mesh = await startSplitMesh(openai.baseUrl, { LLMD_ENDPOINT: llmd.baseUrl });
  t.teardown(() => mesh.close());
  await assertPassedToLlmdOnly(t, `http://127.0.0.1:${mesh.facade.port}`, { llmd, openai });
});

test("values that are not header-safe or too long are left out, and the request still succeeds", async (t) => {
  const { llmd, openai } = await upstreams(t);
  const mesh = await startSplitMesh(openai.baseUrl, { LLMD_ENDPOINT: llmd.baseUrl });
  t.teardown(() => mesh.close());
  const facadeUrl = `http://127.0.0.1:${mesh.facade.port}`;

  await chat(facadeUrl, "llm-d/granite-8b", { "x-llm-d-inference-objective": "x".repeat(513), "x-session-token": "caf\u00e9" });
  t.is(llmd.lastRequest().headers["x-llm-d-inference-objective"], undefined, "over 512 characters");
  t.is(llmd.lastRequest().headers["x-session-token"], undefined, "not visible ASCII");

  await chat(facadeUrl, "llm-d/granite-8b", { "x-llm-d-inference-objective": "y".repeat(512), "x-session-token": "a b" });
  t.is(llmd.lastRequest().headers["x-llm-d-inference-objective"], "y".repeat(512), "512 characters are allowed");
  t.is(llmd.lastRequest().headers["x-session-token"], "a b", "inner spaces are allowed");
});
