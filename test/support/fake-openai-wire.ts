import type http from "node:http";
import type { FakeErrorFields, FakeRequestBody } from "./fake-openai-answers.js";
import type { WireOptions } from "./fake-openai-scenarios.js";

/** How the fake OpenAI upstream puts bytes on the wire: SSE framing, cut writes, JSON answers. */

/** Writes the chunks exactly as given, one write each, then ends. */
export async function writeRaw(response: http.ServerResponse, status: number, headers: Readonly<Record<string, string>>, chunks: readonly (string | Uint8Array)[], delayMs: number): Promise<void> {
  response.writeHead(status, { "content-type": "text/event-stream; charset=utf-8", ...headers });
  for (const chunk of chunks) {
    if (response.destroyed) return;
    response.write(chunk);
    await sleep(delayMs);
  }
  response.end();
}

/** Writes events as SSE per the wire options; `finish` ends the response. False when the client left. */
export async function writeEvents(response: http.ServerResponse, events: readonly string[], wire: WireOptions, finish: boolean): Promise<boolean> {
  const lineEnding = wire.lineEnding ?? "\n";
  const frames = events.map((data) => `${wire.keepAliveComments === true ? `: keep-alive${lineEnding}${lineEnding}` : ""}data: ${data}${lineEnding}${lineEnding}`);
  const pieces = wire.writeSizes === undefined ? frames.map((frame) => Buffer.from(frame)) : cut(Buffer.from(frames.join("")), wire.writeSizes);
  const delayMs = wire.delayMs ?? (wire.writeSizes === undefined ? 0 : 1);
  response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-request-id": "req_fake" });
  response.flushHeaders();
  for (const piece of pieces) {
    if (response.destroyed) return false;
    response.write(piece);
    if (delayMs > 0) await sleep(delayMs);
  }
  if (response.destroyed) return false;
  // A moment before the end, so the terminating chunk arrives apart from the last event, as it often does.
  await sleep(1);
  if (finish && !response.destroyed) response.end();
  return !response.destroyed;
}

function cut(bytes: Buffer, sizes: readonly number[]): Buffer[] {
  const pieces: Buffer[] = [];
  for (let start = 0, turn = 0; start < bytes.length; turn++) {
    const size = Math.max(1, sizes[turn % sizes.length] ?? 1);
    pieces.push(bytes.subarray(start, start + size));
    start += size;
  }
  return pieces;
}

/** OpenAI's `{"error": …}` answer. */
export function sendError(response: http.ServerResponse, status: number, error: FakeErrorFields, headers: Readonly<Record<string, string>>): void {
  sendJson(response, status, { error }, headers);
}

/** A JSON answer with a content-length, so the connection stays reusable. */
export function sendJson(response: http.ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  sendText(response, status, JSON.stringify(body), "application/json", headers);
}

/** A whole answer of any content type; nothing when the client already left. */
export function sendText(response: http.ServerResponse, status: number, text: string, contentType: string, headers: Readonly<Record<string, string>>): void {
  if (response.destroyed) return;
  response.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(text), "x-request-id": "req_fake", ...headers });
  response.end(text);
}

/** The request body as a JSON object; `{}` for anything else. */
export function parseBody(rawBody: string): FakeRequestBody {
  try {
    const parsed: unknown = JSON.parse(rawBody);
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as FakeRequestBody) : {};
  } catch {
    return {};
  }
}

/** The whole request body as text. */
export async function readBody(request: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
