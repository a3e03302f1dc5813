import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A fake OpenAI-compatible upstream on 127.0.0.1, port 0, speaking OpenAI's legacy completions wire
 * format (`POST /v1/completions`, whole and streamed) and its model list (`GET /v1/models`).
 *
 * The answer continues the prompt with ` continued: <prompt>`, one word per streamed chunk; the
 * last text chunk carries `finish_reason` (as OpenAI sends it), then, with
 * `stream_options.include_usage`, a `choices: []` usage chunk, then `data: [DONE]`. A model named
 * `fail-400` answers OpenAI's 400 error body. `GET /v1/models` lists `models`, or answers `modelsStatus`.
 */
export interface FakeCompletionsUpstream {
  readonly baseUrl: string;
  readonly requests: readonly { method: string; path: string; headers: http.IncomingHttpHeaders; body: Record<string, unknown> | undefined }[];
  lastRequest(): FakeCompletionsUpstream["requests"][number];
  close(): Promise<void>;
}

export interface FakeCompletionsOptions {
  readonly apiKey?: string;
  readonly models?: readonly string[];
  /** When set, `GET /v1/models` answers this status with an error body. */
  readonly modelsStatus?: number;
}

export async function startFakeCompletionsUpstream(options: FakeCompletionsOptions = {}): Promise<FakeCompletionsUpstream> {
  const requests: FakeCompletionsUpstream["requests"][number][] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const body = text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>);
      const path = (request.url ?? "").split("?")[0] ?? "";
      requests.push({ method: request.method ?? "", path, headers: request.headers, body });
      if (options.apiKey !== undefined && request.headers.authorization !== `Bearer ${options.apiKey}`) {
        return sendJson(response, 401, { error: { message: "Incorrect API key provided.", type: "invalid_request_error", param: null, code: "invalid_api_key" } });
      }
      if (request.method === "GET" && path === "/v1/models") {
        if (options.modelsStatus !== undefined) return sendJson(response, options.modelsStatus, { error: { message: "nope", type: "server_error", param: null, code: null } });
        return sendJson(response, 200, { object: "list", data: (options.models ?? []).map((id) => ({ id, object: "model", created: 1_686_935_002, owned_by: "openai" })) });
      }
      if (request.method === "POST" && path === "/v1/completions" && body !== undefined) return answer(body, response);
      sendJson(response, 404, { error: { message: `Invalid URL (${request.method} ${path})`, type: "invalid_request_error", param: null, code: null } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    lastRequest() {
      const last = requests.at(-1);
      if (last === undefined) throw new Error("the fake upstream has received no request");
      return last;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function answer(body: Record<string, unknown>, response: http.ServerResponse): void {
  const model = String(body.model);
  if (model === "fail-400") {
    return sendJson(response, 400, { error: { message: "Invalid prompt: it is too spicy.", type: "invalid_request_error", param: "prompt", code: "invalid_value" } });
  }
  const words = ` continued: ${String(body.prompt)}`.split(/(?= )/);
  const usage = { prompt_tokens: String(body.prompt).split(" ").length, completion_tokens: words.length, total_tokens: String(body.prompt).split(" ").length + words.length };
  const base = { id: "cmpl-fake123", object: "text_completion", created: 1_700_000_000, model };
  if (body.stream !== true) {
    return sendJson(response, 200, { ...base, choices: [{ text: words.join(""), index: 0, logprobs: null, finish_reason: "length" }], usage });
  }
  response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
  words.forEach((word, position) => {
    const finish = position === words.length - 1 ? "length" : null;
    response.write(`data: ${JSON.stringify({ ...base, choices: [{ text: word, index: 0, logprobs: null, finish_reason: finish }], system_fingerprint: null, usage: null })}\n\n`);
  });
  const streamOptions = body.stream_options as { include_usage?: boolean } | undefined;
  if (streamOptions?.include_usage === true) response.write(`data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`);
  response.end("data: [DONE]\n\n");
}

function sendJson(response: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  response.end(text);
}
