import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

/** One request the fake received. */
export interface RecordedEmbeddingsRequest {
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

/**
 * A fake OpenAI-compatible upstream on 127.0.0.1, port 0, speaking OpenAI's exact embeddings wire
 * format: `POST /v1/embeddings` with `input` (a string or strings), `encoding_format` (float or
 * base64) and `dimensions` answers `{object:"list", data:[{object:"embedding", index, embedding}],
 * model, usage:{prompt_tokens, total_tokens}}`. Vectors are deterministic in the text (a hash,
 * `dimensions` long, default 8); prompt tokens are the words of the inputs. `data` is written in
 * reverse order (the `index` says where each belongs), so clients must not rely on position.
 * Models `fail-400` and `fail-429` answer OpenAI's error bodies; `POST /v1/chat/completions` a
 * minimal completion.
 */
export interface FakeEmbeddingsUpstream {
  /** `http://127.0.0.1:PORT/v1`. */
  readonly baseUrl: string;
  readonly requests: readonly RecordedEmbeddingsRequest[];
  /** Requests to `/v1/embeddings` only. */
  embeddingCalls(): RecordedEmbeddingsRequest[];
  close(): Promise<void>;
}

/** The vector the fake gives `text` with `dimensions` values, for assertions. */
export function fakeVector(text: string, dimensions = 8): number[] {
  const digest = createHash("sha256").update(text).digest();
  return Array.from({ length: dimensions }, (_, index) => Math.fround((digest[index % digest.length]! - 128) / 128 + index / 1000));
}

export async function startFakeEmbeddingsUpstream(): Promise<FakeEmbeddingsUpstream> {
  const requests: RecordedEmbeddingsRequest[] = [];
  const server = http.createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>;
    const path = request.url ?? "/";
    requests.push({ path, headers: request.headers, body });
    if (path === "/v1/chat/completions") {
      sendJson(response, 200, {
        id: "chatcmpl-fake", object: "chat.completion", created: 1, model: body.model,
        choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
      return;
    }
    if (path !== "/v1/embeddings") {
      sendJson(response, 404, { error: { message: `Invalid URL (POST ${path})`, type: "invalid_request_error", param: null, code: null } });
      return;
    }
    answerEmbeddings(body, response);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    embeddingCalls: () => requests.filter((recorded) => recorded.path === "/v1/embeddings"),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Answers one `POST /v1/embeddings` body (shared with fake-openai-upstream.ts's `embeddings` option). */
export function answerEmbeddings(body: Record<string, unknown>, response: http.ServerResponse): void {
  const model = String(body.model);
  if (model === "fail-400") {
    sendJson(response, 400, { error: { message: "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", type: "invalid_request_error", param: "input", code: null } });
    return;
  }
  if (model === "fail-429") {
    response.setHeader("retry-after", "7");
    sendJson(response, 429, { error: { message: "Rate limit reached for text-embedding-3-small.", type: "requests", param: null, code: "rate_limit_exceeded" } });
    return;
  }
  const inputs = typeof body.input === "string" ? [body.input] : (body.input as string[]);
  const dimensions = typeof body.dimensions === "number" ? body.dimensions : 8;
  const data = inputs.map((text, index) => {
    const vector = fakeVector(text, dimensions);
    const embedding = body.encoding_format === "base64" ? Buffer.from(new Float32Array(vector).buffer).toString("base64") : vector;
    return { object: "embedding", index, embedding };
  });
  const tokens = inputs.reduce((sum, text) => sum + text.split(/\s+/).filter(Boolean).length, 0);
  sendJson(response, 200, { object: "list", data: data.reverse(), model: `${model}-2026`, usage: { prompt_tokens: tokens, total_tokens: tokens } });
}

function sendJson(response: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), "x-request-id": "req_fake" });
  response.end(text);
}
