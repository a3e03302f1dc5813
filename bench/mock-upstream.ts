import http from "node:http";
import type net from "node:net";
import { pathToFileURL } from "node:url";

/**
 * The benchmark's OpenAI upstream: as cheap as a Node server can be, so it is never the bottleneck.
 * Every answer is built once at start-up; a request costs reading its body and one or two writes.
 * It runs in its own process (`startMockUpstream` in mock-process.ts) and counts the chat requests
 * it received, which `GET /count` reports, so the harness can compare it with the load generator.
 */

const created = 1_700_000_000;
const words = "Quiet packets cross the gateway at dawn and every model answers in the same calm voice until the last token settles".split(" ");
const model = "gpt-4o-mini";

/** Number of content chunks in a streamed answer (usage and [DONE] follow them). */
export const streamedChunks = 20;

function completionBody(): Buffer {
  return Buffer.from(JSON.stringify({
    id: "chatcmpl-bench",
    object: "chat.completion",
    created,
    model,
    choices: [{ index: 0, message: { role: "assistant", content: words.slice(0, streamedChunks).join(" ") }, finish_reason: "stop", logprobs: null }],
    usage: { prompt_tokens: 24, completion_tokens: streamedChunks, total_tokens: 24 + streamedChunks },
  }));
}

/** The SSE answer as two pieces: the first event alone (so its arrival is a moment of its own), then the rest. */
function streamPieces(): { first: Buffer; rest: Buffer } {
  const chunk = (delta: object, finish: string | null, usage: object | null = null) =>
    `data: ${JSON.stringify({ id: "chatcmpl-bench", object: "chat.completion.chunk", created, model, choices: usage === null ? [{ index: 0, delta, finish_reason: finish, logprobs: null }] : [], usage })}\n\n`;
  const events = words.slice(0, streamedChunks).map((word, index) =>
    chunk(index === 0 ? { role: "assistant", content: word } : { content: ` ${word}` }, index === streamedChunks - 1 ? "stop" : null));
  events.push(chunk({}, null, { prompt_tokens: 24, completion_tokens: streamedChunks, total_tokens: 24 + streamedChunks }), "data: [DONE]\n\n");
  return { first: Buffer.from(events[0]!), rest: Buffer.from(events.slice(1).join("")) };
}

/** The mock's HTTP server and its request counter; not yet listening. */
export function createMockUpstream(): { server: http.Server; count(): number } {
  const completion = completionBody();
  const stream = streamPieces();
  return createCountingUpstream((response, streamed) => {
    if (!streamed) {
      response.writeHead(200, { "content-type": "application/json", "content-length": completion.length });
      response.end(completion);
      return;
    }
    response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    response.write(stream.first);
    response.end(stream.rest);
  });
}

/**
 * A mock upstream's server: `POST /v1/chat/completions` is counted and answered by `answer` (told
 * whether the request asked to stream) once its body is in; `GET /count` says how many there were.
 */
export function createCountingUpstream(answer: (response: http.ServerResponse, streamed: boolean) => void): { server: http.Server; count(): number } {
  let requests = 0;
  const server = http.createServer({ keepAliveTimeout: 65_000 }, (request, response) => {
    if (request.method === "GET" && request.url === "/count") {
      const body = JSON.stringify({ requests });
      response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      response.end(body);
      return;
    }
    if (request.method !== "POST" || request.url !== "/v1/chat/completions") {
      response.writeHead(404, { "content-length": 0 }).end();
      return;
    }
    requests++;
    const pieces: Buffer[] = [];
    request.on("data", (piece: Buffer) => pieces.push(piece));
    request.on("end", () => answer(response, Buffer.concat(pieces).includes('"stream":true')));
  });
  return { server, count: () => requests };
}

// Run directly (`node --import tsx bench/mock-upstream.ts PORT`): listen and print the port.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { server } = createMockUpstream();
  server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
    process.stdout.write(`listening ${(server.address() as net.AddressInfo).port}\n`);
  });
  process.on("SIGTERM", () => process.exit(0));
}
