import http from "node:http";
import type net from "node:net";
import { pathToFileURL } from "node:url";
import type { SlowStreamShape } from "./config.js";
import { createCountingUpstream } from "./mock-upstream.js";

/**
 * The streams scenario's OpenAI upstream: answers like a model that thinks, then trickles. The head
 * and first chunk leave `firstChunkMs` after the request's end, then each further chat.completion.chunk
 * event leaves `gapMs` after the one before in a write of its own, the last with finish_reason
 * "stop", and `data: [DONE]` one gap later. The writes keep to a schedule from the first one, so a
 * late timer does not push back every chunk after it. Every event is built once at start-up. Like
 * bench/mock-upstream.ts it counts the chat requests it received (`GET /count`).
 */

const created = 1_700_000_000;
const words = "Quiet packets cross the gateway at dawn and every model answers in the same calm voice until the last token settles".split(" ");

function streamEvents(chunks: number): Buffer[] {
  const event = (delta: object, finish: string | null) =>
    Buffer.from(`data: ${JSON.stringify({ id: "chatcmpl-slow", object: "chat.completion.chunk", created, model: "gpt-4o-mini", choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] })}\n\n`);
  const events = Array.from({ length: chunks }, (_, index) => {
    const word = words[index % words.length]!;
    return event(index === 0 ? { role: "assistant", content: word } : { content: ` ${word}` }, index === chunks - 1 ? "stop" : null);
  });
  events.push(Buffer.from("data: [DONE]\n\n"));
  return events;
}

/** The slow mock's HTTP server and its request counter; not yet listening. */
export function createSlowUpstream(shape: SlowStreamShape): { server: http.Server; count(): number } {
  const events = streamEvents(shape.chunks);
  const stream = (response: http.ServerResponse) => {
    const start = performance.now() + shape.firstChunkMs;
    let next = 0;
    let timer: NodeJS.Timeout | undefined;
    const write = () => {
      if (next === 0) response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      const event = events[next++]!;
      if (next === events.length) {
        response.end(event);
        return;
      }
      response.write(event);
      timer = setTimeout(write, Math.max(0, start + next * shape.gapMs - performance.now()));
    };
    timer = setTimeout(write, shape.firstChunkMs);
    response.once("close", () => clearTimeout(timer));
  };
  return createCountingUpstream((response, streamed) => {
    if (streamed) return stream(response);
    const body = '{"error":{"message":"the slow mock only streams","type":"invalid_request_error"}}';
    response.writeHead(400, { "content-type": "application/json", "content-length": body.length }).end(body);
  });
}

// Run directly (`node --import tsx bench/slow-upstream.ts PORT FIRST_CHUNK_MS CHUNKS GAP_MS`): listen and print the port.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [port, firstChunkMs, chunks, gapMs] = process.argv.slice(2).map(Number);
  const { server } = createSlowUpstream({ firstChunkMs: firstChunkMs ?? 200, chunks: chunks ?? 100, gapMs: gapMs ?? 20 });
  server.listen(port ?? 0, "127.0.0.1", () => {
    process.stdout.write(`listening ${(server.address() as net.AddressInfo).port}\n`);
  });
  process.on("SIGTERM", () => process.exit(0));
}
