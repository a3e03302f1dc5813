import test from "ava";
import OpenAI from "openai";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { startMesh, type TestMesh } from "./support/mesh.js";

// The facade's request log, captured at the logger's write function.
let upstream: FakeUpstream;

test.before(async () => {
  upstream = await startFakeUpstream();
});

test.after.always(async () => {
  await upstream?.close();
});

interface LoggedMesh {
  readonly mesh: TestMesh;
  readonly client: OpenAI;
  /** The `request` lines logged so far, parsed. */
  requestLines(): Record<string, unknown>[];
  /** Everything written, raw. */
  written(): string;
}

async function startLoggedMesh(env: Record<string, string> = {}): Promise<LoggedMesh> {
  const lines: string[] = [];
  const mesh = await startMesh({ OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-fake-upstream-key-0001", LOG_LEVEL: "info", ...env }, { writeLog: (line) => lines.push(line) });
  return {
    mesh,
    client: new OpenAI({ baseURL: mesh.facadeUrl, apiKey: "unused", maxRetries: 0 }),
    requestLines: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === "request"),
    written: () => lines.join(""),
  };
}

/** The request line with this id, once the response's close handler wrote it. */
async function lineFor(logged: LoggedMesh, requestId: string): Promise<Record<string, unknown>> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const line = logged.requestLines().find((entry) => entry.requestId === requestId);
    if (line !== undefined) return line;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no request line for ${requestId}`);
}

test("one JSON line per request with its model, backend, status, latency, first token, tokens and cache, but not the prompt", async (t) => {
  const logged = await startLoggedMesh();
  t.teardown(() => logged.mesh.close());
  const prompt = `private words ${crypto.randomUUID()}`;
  const stream = await logged.client.chat.completions.create(
    { model: "openai/gpt-4o-mini", messages: [{ role: "user", content: prompt }], stream: true, stream_options: { include_usage: true } },
    { headers: { "x-request-id": "log-stream-1" } },
  );
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) usage = chunk.usage ?? usage;
  const line = await lineFor(logged, "log-stream-1");
  t.like(line, { level: "info", msg: "request", method: "POST", path: "/v1/chat/completions", status: 200, model: "openai/gpt-4o-mini", backend: "openai", stream: true, cache: "bypass" });
  t.is(line.promptTokens, usage?.prompt_tokens);
  t.is(line.completionTokens, usage?.completion_tokens);
  t.is(typeof line.latencyMs, "number");
  t.is(typeof line.ttftMs, "number");
  t.true((line.ttftMs as number) <= (line.latencyMs as number));
  t.false("messages" in line);
  t.false(logged.written().includes(prompt), "the prompt text is in no log line");
  t.false(logged.written().includes("sk-fake-upstream-key-0001"));
  t.is(logged.requestLines().filter((entry) => entry.requestId === "log-stream-1").length, 1, "exactly one line for the request");

  await logged.client.chat.completions.create({ model: "nobody-serves-this", messages: [{ role: "user", content: "x" }] }, { headers: { "x-request-id": "log-404" } }).catch(() => undefined);
  t.like(await lineFor(logged, "log-404"), { status: 404, errorType: "invalid_request_error", model: "nobody-serves-this" });
});

test("with LOG_PROMPTS=true the line holds the messages as the client sent them", async (t) => {
  const logged = await startLoggedMesh({ LOG_PROMPTS: "true" });
  t.teardown(() => logged.mesh.close());
  const messages = [
    { role: "system" as const, content: "be brief" },
    { role: "user" as const, content: `shown words ${crypto.randomUUID()}` },
  ];
  await logged.client.chat.completions.create({ model: "openai/gpt-4o-mini", messages }, { headers: { "x-request-id": "log-prompts-1" } });
  const line = await lineFor(logged, "log-prompts-1");
  t.deepEqual(line.messages, messages);
  t.like(line, { status: 200, stream: false, backend: "openai" });
});
