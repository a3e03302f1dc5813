import { setMaxListeners } from "node:events";
import http from "node:http";
import test, { type ExecutionContext } from "ava";
import { createClient } from "@connectrpc/connect";
import { InferenceService, Role } from "../gen/iir/inference/v1/inference_pb.js";
import { listenOnLoopback } from "./support/loopback-server.js";
import { startSplitMesh } from "./support/split-mesh.js";

// In split mode every client's stream shares the facade's one HTTP/2 session to the router. A
// stream the facade stops reading (its client stopped reading) must hold back only itself — HTTP/2
// flow control per stream — never the session and the other clients' streams on it.

const stalledStreams = 300;
const readingClients = 20;

const chunk = (text: string, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: finish === null ? { content: text } : {}, finish_reason: finish }] })}\n\n`;

/**
 * An OpenAI-compatible upstream that answers every request with a stream that never ends, as fast
 * as it is read, and counts the streams the gateway stopped reading (a write held back).
 */
async function startEndlessUpstream(t: ExecutionContext) {
  const state = { streams: 0, held: 0 };
  const server = http.createServer(async (request, response) => {
    for await (const _ of request);
    response.writeHead(200, { "content-type": "text/event-stream" });
    state.streams += 1;
    let closed = false;
    response.once("close", () => (closed = true));
    const piece = chunk("x".repeat(1024));
    while (!closed) {
      if (response.write(piece)) continue;
      state.held += 1;
      await new Promise<void>((resolve) => {
        const done = () => {
          response.off("drain", done);
          response.off("close", done);
          resolve();
        };
        response.on("drain", done);
        response.on("close", done);
      });
      state.held -= 1;
    }
  });
  const url = await listenOnLoopback(t, server);
  return { baseUrl: `${url.origin}/v1`, state };
}

/** An upstream whose answers are 40 short chunks and the end. */
async function startShortUpstream(t: ExecutionContext) {
  const server = http.createServer(async (request, response) => {
    for await (const _ of request);
    response.writeHead(200, { "content-type": "text/event-stream" });
    for (let index = 0; index < 40; index++) response.write(chunk("ok "));
    response.end(`${chunk("", "stop")}data: [DONE]\n\n`);
  });
  const url = await listenOnLoopback(t, server);
  return `${url.origin}/v1`;
}

test("300 streams the facade stopped reading do not fail other clients' streams on its one session to the router", async (t) => {
  t.timeout(180_000);
  // Two providers for the stalled streams: one provider's upstream pool holds 256 connections.
  const [first, second, short] = [await startEndlessUpstream(t), await startEndlessUpstream(t), await startShortUpstream(t)];
  const split = await startSplitMesh(first.baseUrl, { GROQ_BASE_URL: second.baseUrl, EXTERNAL_GROQ_KEY: "gsk-test", VENICE_BASE_URL: short, EXTERNAL_VENICE_KEY: "v-test" });
  t.teardown(() => split.close());

  // The facade's own client of the router, as its chat route uses it: each stream's first part is
  // read, then nothing more, as when the facade's client stopped reading.
  const router = createClient(InferenceService, split.transport);
  const stop = new AbortController();
  setMaxListeners(stalledStreams + 10, stop.signal);
  t.teardown(() => stop.abort());
  await Promise.all(
    Array.from({ length: stalledStreams }, async (_, index) => {
      const model = index % 2 === 0 ? "openai/endless" : "groq/endless";
      const parts = router.chatStream({ params: { model, messages: [{ role: Role.USER, content: { case: "text", value: "go on" } }] } }, { signal: stop.signal });
      await parts[Symbol.asyncIterator]().next();
    }),
  );
  // Each stalled stream backs up to its upstream: the router stopped reading it too.
  while (first.state.held + second.state.held < stalledStreams) await new Promise((resolve) => setTimeout(resolve, 50));

  const answers = await Promise.all(
    Array.from({ length: readingClients }, async () => {
      const response = await fetch(`http://127.0.0.1:${split.facade.port}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "venice/short", messages: [{ role: "user", content: "hi" }], stream: true }),
      });
      return { status: response.status, text: await response.text() };
    }),
  );
  for (const answer of answers) {
    t.is(answer.status, 200);
    t.true(answer.text.endsWith("data: [DONE]\n\n"), answer.text.slice(-300));
    t.false(answer.text.includes('"error"'));
  }
  t.is(first.state.held + second.state.held, stalledStreams, "the stalled streams are still open, each held back on its own");
});
