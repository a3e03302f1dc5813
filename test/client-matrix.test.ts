import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test, { type ExecutionContext } from "ava";
import { tinyModel } from "./support/agent-fixtures.js";
import { startFakeAnthropic, type AnthropicUsage, type FakeAnthropic } from "./support/fake-anthropic.js";
import { startFakeGemini, type FakeGemini, type GeminiUsage } from "./support/fake-gemini.js";
import { fakeVector } from "./support/fake-openai-embeddings.js";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { spawnIir, type IirProcess } from "./support/iir-process.js";
import { createMatrixClients, type ContractUsage, type MatrixClient, type Outcome } from "./support/matrix-clients.js";

// The client × backend matrix: four clients that are not ours (the official OpenAI SDK, the AI SDK
// on chat completions, LangChain's ChatOpenAI and the Anthropic SDK) each run chat, a stream, a tool
// call and, where the client's API has them, embeddings through one real `iir all`, against the local
// agent (the tiny model) and fakes of an OpenAI-compatible, an Anthropic and a Gemini upstream that
// speak the exact wire formats. Every cell checks the content, the finish reason and the usage in the
// client's own terms, cached prompt tokens included, so the mapping between protocols is checked in
// both directions.
//
// The OpenAI Python SDK is left out: it cannot be installed here (no PyPI, no Debian package).
//
// The fakes answer from the request: a call of the offered tool with input {"echo": <prompt>}, else
// the text `echo: <prompt>`, cut to max_tokens words with the protocol's length reason when longer;
// each reports its fixed usage below, with cached (and, for Anthropic, cache-written) prompt tokens.
//
// The agent runs a model with random weights: its text is gibberish and it never produces a tool call,
// so its cells check that an answer came back with a finish reason of stop or length and counted
// tokens; its tool cell checks that a request with tools is accepted and answered that way.

type BackendName = "agent" | "openai" | "anthropic" | "google";

interface Backend {
  readonly label: string;
  readonly model: string;
  readonly embeddingModel?: string;
  /** What the fake reports; undefined for the agent, whose counts come from its tokenizer. */
  readonly usage?: ContractUsage;
}

const openaiUsage = {
  prompt_tokens: 17,
  completion_tokens: 5,
  total_tokens: 22,
  prompt_tokens_details: { cached_tokens: 6, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
};
const anthropicUsage: AnthropicUsage = { input_tokens: 11, output_tokens: 3, cache_read_input_tokens: 7, cache_creation_input_tokens: 5 };
const geminiUsage: GeminiUsage = { promptTokenCount: 20, candidatesTokenCount: 4, cachedContentTokenCount: 8 };

const backends: Readonly<Record<BackendName, Backend>> = {
  agent: { label: "local agent", model: "local/iir-tiny", embeddingModel: "local/iir-tiny" },
  openai: {
    label: "openai-compatible upstream",
    model: "openai/gpt-4o-mini",
    embeddingModel: "openai/text-embedding-3-small",
    usage: { input: 17, output: 5, cached: 6, cacheCreation: 0 },
  },
  // Anthropic's input_tokens leaves out cache reads and writes: the whole input is 11 + 7 + 5.
  anthropic: { label: "anthropic upstream", model: "anthropic/claude-sonnet-4-5", usage: { input: 23, output: 3, cached: 7, cacheCreation: 5 } },
  google: {
    label: "gemini upstream",
    model: "google/gemini-2.5-flash",
    embeddingModel: "google/gemini-embedding-001",
    usage: { input: 20, output: 4, cached: 8, cacheCreation: 0 },
  },
};

// The agent's answers are cut short: random weights rarely stop on their own.
const agentMaxTokens = 8;
const upstreamMaxTokens = 100;

let iir: IirProcess | undefined;
let openaiUpstream: FakeUpstream | undefined;
let anthropicUpstream: FakeAnthropic | undefined;
let gemini: FakeGemini | undefined;
let facade = "";
let directory: string | undefined;

test.before(async () => {
  openaiUpstream = await startFakeUpstream({ apiKey: "sk-openai-matrix", embeddings: true, usage: openaiUsage, cutAtMaxTokens: true });
  anthropicUpstream = await startFakeAnthropic({ apiKey: "sk-ant-matrix", echo: anthropicUsage });
  gemini = await startFakeGemini("gemini-matrix-key", { scripted: geminiUsage });
  directory = fs.mkdtempSync(path.join(os.tmpdir(), "iir-client-matrix-"));
  iir = spawnIir(["all"], {
    IIR_HOST: "127.0.0.1",
    IIR_FACADE_PORT: "0",
    IIR_ROUTER_PORT: "0",
    IIR_AGENT_PORT: "0",
    IIR_AGENT_MODEL: await tinyModel(),
    IIR_AGENT_THREADS: "2",
    IIR_AGENT_GPU: "false",
    SQLITE_DB_PATH: path.join(directory, "iir.db"),
    // Every cell must reach its backend: no answer from the response cache.
    CACHE_TTL: "0",
    OPENAI_BASE_URL: openaiUpstream.baseUrl,
    EXTERNAL_OPENAI_KEY: "sk-openai-matrix",
    ANTHROPIC_BASE_URL: anthropicUpstream.baseUrl,
    EXTERNAL_ANTHROPIC_KEY: "sk-ant-matrix",
    GOOGLE_BASE_URL: gemini.baseUrl,
    EXTERNAL_GOOGLE_KEY: "gemini-matrix-key",
  });
  const started = await iir.waitForLog("iir started", 90_000);
  facade = String(started.facade);
});

test.after.always(async () => {
  if (iir !== undefined) {
    iir.kill("SIGTERM");
    await iir.exited;
  }
  await Promise.all([openaiUpstream?.close(), anthropicUpstream?.close(), gemini?.close()]);
  if (directory !== undefined) fs.rmSync(directory, { recursive: true, force: true });
});

/** Checks the usage a client saw: the fake's exact counts, or for the agent counted tokens and no cache. */
function assertUsage(t: ExecutionContext, client: MatrixClient, backend: Backend, outcome: Outcome): void {
  if (backend.usage !== undefined) {
    t.deepEqual(pick(outcome.usage, Object.keys(client.expectedUsage(backend.usage))), client.expectedUsage(backend.usage), "usage, cached tokens included");
    return;
  }
  const [input, output, cached] = client.usageKeys;
  t.true((outcome.usage[input] ?? 0) > 0, `${input} counted by the agent`);
  t.true((outcome.usage[output] ?? 0) > 0, `${output} counted by the agent`);
  t.is(outcome.usage[cached], 0, "the agent reads nothing from a prompt cache");
}

function pick(record: Readonly<Record<string, number | undefined>>, keys: readonly string[]): Record<string, number | undefined> {
  return Object.fromEntries(keys.map((key) => [key, record[key]]));
}

function assertAgentAnswer(t: ExecutionContext, client: MatrixClient, outcome: Outcome): void {
  t.true([client.finishNames.stop, client.finishNames.length].includes(outcome.finish ?? ""), `finish ${String(outcome.finish)} is stop or length`);
  t.deepEqual(outcome.toolCalls, [], "random weights call no tool");
}

const clients = createMatrixClients(() => facade);
const backendNames: readonly BackendName[] = ["agent", "openai", "anthropic", "google"];

for (const client of clients) {
  for (const name of backendNames) {
    const backend = backends[name];
    const maxTokens = name === "agent" ? agentMaxTokens : upstreamMaxTokens;

    test(`${client.label} × ${backend.label} × chat`, async (t) => {
      t.timeout(180_000);
      const prompt = `hello there from ${client.label}`;
      const outcome = await client.chat({ model: backend.model, prompt, maxTokens, tools: false });
      if (name === "agent") assertAgentAnswer(t, client, outcome);
      else {
        t.is(outcome.text, `echo: ${prompt}`);
        t.is(outcome.finish, client.finishNames.stop);
      }
      assertUsage(t, client, backend, outcome);
    });

    test(`${client.label} × ${backend.label} × stream`, async (t) => {
      t.timeout(180_000);
      const prompt = `one two three four, says ${client.label}`;
      const outcome = await client.stream({ model: backend.model, prompt, maxTokens, tools: false });
      if (name === "agent") assertAgentAnswer(t, client, outcome);
      else {
        t.is(outcome.text, `echo: ${prompt}`);
        t.is(outcome.finish, client.finishNames.stop);
      }
      assertUsage(t, client, backend, outcome);
    });

    test(`${client.label} × ${backend.label} × tools`, async (t) => {
      t.timeout(180_000);
      const prompt = `weather in Paris? asks ${client.label}`;
      const outcome = await client.chat({ model: backend.model, prompt, maxTokens, tools: true });
      // The agent takes the tools (its chat template offers them) but random weights never call one.
      if (name === "agent") assertAgentAnswer(t, client, outcome);
      else {
        t.deepEqual(outcome.toolCalls, [{ name: "get_weather", input: { echo: prompt } }]);
        t.is(outcome.finish, client.finishNames.tool);
      }
      assertUsage(t, client, backend, outcome);
    });

    // The agent has no length cell: random weights may end the answer before any limit.
    if (name !== "agent") {
      for (const streamed of [false, true]) {
        test(`${client.label} × ${backend.label} × ${streamed ? "stream " : ""}length`, async (t) => {
          t.timeout(180_000);
          const prompt = `count the words in this long sentence for ${client.label}${streamed ? " streaming" : ""}`;
          const call = { model: backend.model, prompt, maxTokens: 3, tools: false };
          const outcome = streamed ? await client.stream(call) : await client.chat(call);
          t.is(outcome.text.trim(), `echo: ${prompt}`.split(" ").slice(0, 3).join(" "), "the answer cut at three words");
          t.is(outcome.finish, client.finishNames.length);
          assertUsage(t, client, backend, outcome);
        });
      }
    }

    const embedder = client.embed?.bind(client);
    const embeddingModel = backend.embeddingModel;
    if (embedder === undefined || embeddingModel === undefined) continue;
    test(`${client.label} × ${backend.label} × embeddings`, async (t) => {
      t.timeout(180_000);
      const text = `sunny day in Paris for ${client.label}`;
      const { vector, inputTokens } = await embedder(embeddingModel, text);
      if (name === "openai") {
        // Float32 values: a client that asked for floats may get them printed at float32 precision.
        t.deepEqual(vector.map((value) => Math.fround(value)), fakeVector(text), "the upstream's vector, unchanged");
        if (inputTokens !== undefined) t.is(inputTokens, text.split(" ").length, "the upstream's count: one token a word");
      } else if (name === "google") {
        // The fake's vector for a text is [length, length + 0.1, length + 0.2] (float32 when sent as base64).
        t.deepEqual(vector.map((value) => Math.fround(value)), [0, 0.1, 0.2].map((step) => Math.fround(text.length + step)));
        // batchEmbedContents reports no usage.
        if (inputTokens !== undefined) t.is(inputTokens, 0);
      } else {
        t.is(vector.length, 64, "the tiny model's embedding size");
        t.true(vector.every((value) => Number.isFinite(value)));
        if (inputTokens !== undefined) t.true(inputTokens > 0, "the agent counts the input's tokens");
      }
    });
  }
}
