import http from "node:http";
import { once } from "node:events";
import type net from "node:net";

// A fake of Google's Gemini API (generativelanguage.googleapis.com/v1beta) speaking its wire format:
// answers shaped as Google's documented examples and recorded answers (ai.google.dev/api; vercel/ai's
// recorded fixtures), SSE streams of whole GenerateContentResponse chunks, one event per write with
// `\r\n\r\n` as Google ends them, and Google's `{"error":{code,message,status,details}}` bodies.

/** What the fake answers a generateContent or streamGenerateContent call with, instead of its echo. */
export type GeminiScript =
  | { readonly kind: "json"; readonly status?: number; readonly body: unknown; readonly headers?: Record<string, string> }
  | { readonly kind: "events"; readonly chunks: readonly unknown[] };

export interface RecordedGeminiRequest {
  readonly method: string;
  /** Path and query as received. */
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

export interface FakeGemini {
  /** e.g. http://127.0.0.1:PORT/v1beta */
  readonly baseUrl: string;
  readonly requests: RecordedGeminiRequest[];
  lastRequest(): RecordedGeminiRequest;
  /** Answers the next generate call (unary or streamed) with this instead of the echo. */
  script(answer: GeminiScript): void;
  close(): Promise<void>;
}

/** Google's answer to a request with a wrong `x-goog-api-key` (a 400, not a 401). */
export const invalidKeyError = {
  error: {
    code: 400,
    message: "API key not valid. Please pass a valid API key.",
    status: "INVALID_ARGUMENT",
    details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID", domain: "googleapis.com", metadata: { service: "generativelanguage.googleapis.com" } }],
  },
};

/** A Google error body. */
export function googleError(code: number, status: string, message: string, details?: unknown[]): { error: Record<string, unknown> } {
  return { error: details === undefined ? { code, message, status } : { code, message, status, details } };
}

/** Two pages of `GET models`, as Google lists them. */
const modelPages = [
  {
    models: [
      { name: "models/gemini-2.5-flash", version: "001", displayName: "Gemini 2.5 Flash", inputTokenLimit: 1048576, outputTokenLimit: 65536, supportedGenerationMethods: ["generateContent", "countTokens"] },
      { name: "models/gemini-2.5-pro", version: "2.5", displayName: "Gemini 2.5 Pro", inputTokenLimit: 1048576, outputTokenLimit: 65536, supportedGenerationMethods: ["generateContent"] },
    ],
    nextPageToken: "page-2",
  },
  { models: [{ name: "models/gemini-embedding-001", version: "001", displayName: "Gemini Embedding 001", inputTokenLimit: 2048, outputTokenLimit: 1, supportedGenerationMethods: ["embedContent"] }] },
];

/** Gemini's usageMetadata; `cachedContentTokenCount` is part of `promptTokenCount`. */
export interface GeminiUsage {
  readonly promptTokenCount: number;
  readonly candidatesTokenCount: number;
  readonly cachedContentTokenCount: number;
}

/** Settings of the fake. */
export interface FakeGeminiOptions {
  /**
   * Answer generate calls from their content with this usage: a `functionCall` of the first declared
   * function (args `{"echo": <last user text>}`) when the request declares functions and its
   * functionCallingConfig mode is not NONE, else the echo text, cut to `maxOutputTokens` words with
   * finishReason MAX_TOKENS when it is longer (see {@link scriptedChunks}).
   */
  readonly scripted?: GeminiUsage;
}

export async function startFakeGemini(apiKey: string, options: FakeGeminiOptions = {}): Promise<FakeGemini> {
  const requests: RecordedGeminiRequest[] = [];
  const scripts: GeminiScript[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const recorded: RecordedGeminiRequest = { method: request.method ?? "", url: request.url ?? "", headers: request.headers, body: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>) };
      requests.push(recorded);
      void answer(recorded, response);
    });
  });
  server.on("connection", (socket) => sockets.add(socket));

  const sendJson = (response: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    response.writeHead(status, { "content-type": "application/json; charset=UTF-8", ...headers });
    response.end(JSON.stringify(body));
  };

  const sendEvents = async (response: http.ServerResponse, chunks: readonly unknown[]): Promise<void> => {
    response.writeHead(200, { "content-type": "text/event-stream", "transfer-encoding": "chunked" });
    for (const chunk of chunks) {
      response.write(`data: ${JSON.stringify(chunk)}\r\n\r\n`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    response.end();
  };

  const answer = async (recorded: RecordedGeminiRequest, response: http.ServerResponse): Promise<void> => {
    if (recorded.headers["x-goog-api-key"] !== apiKey) return sendJson(response, 400, invalidKeyError);
    const [path, query = ""] = recorded.url.split("?");
    if (recorded.method === "GET" && path === "/v1beta/models") {
      const token = new URLSearchParams(query).get("pageToken");
      return sendJson(response, 200, token === "page-2" ? modelPages[1] : modelPages[0]);
    }
    const match = /^\/v1beta\/models\/([^:]+):(\w+)$/.exec(path ?? "");
    if (recorded.method !== "POST" || match === null) return sendJson(response, 404, googleError(404, "NOT_FOUND", `Method not found: ${recorded.method} ${path}`));
    const [, model, method] = match;
    switch (method) {
      case "generateContent":
      case "streamGenerateContent": {
        const script = scripts.shift();
        const streamed = method === "streamGenerateContent";
        if (script?.kind === "json") return sendJson(response, script.status ?? 200, script.body, script.headers);
        if (script?.kind === "events") return sendEvents(response, script.chunks);
        const reply = `echo: ${lastUserText(recorded.body)}`;
        if (options.scripted !== undefined) {
          const chunks = scriptedChunks(recorded.body, model!, options.scripted);
          return streamed ? sendEvents(response, chunks) : sendJson(response, 200, mergeChunks(chunks));
        }
        return streamed ? sendEvents(response, echoChunks(reply, model!)) : sendJson(response, 200, echoAnswer(reply, model!));
      }
      case "batchEmbedContents": {
        const batch = (recorded.body.requests ?? []) as { content: { parts: { text: string }[] }; outputDimensionality?: number }[];
        return sendJson(response, 200, { embeddings: batch.map((entry) => ({ values: Array.from({ length: entry.outputDimensionality ?? 3 }, (_, index) => entry.content.parts[0]!.text.length + index / 10) })) });
      }
      case "countTokens":
        return sendJson(response, 200, { totalTokens: 31, promptTokensDetails: [{ modality: "TEXT", tokenCount: 31 }] });
      default:
        return sendJson(response, 404, googleError(404, "NOT_FOUND", `Method not found: ${method}`));
    }
  };

  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1beta`,
    requests,
    lastRequest: () => {
      const last = requests.at(-1);
      if (last === undefined) throw new Error("the fake Gemini API got no request");
      return last;
    },
    script: (answer) => void scripts.push(answer),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, "close");
    },
  };
}

function lastUserText(body: Record<string, unknown>): string {
  const contents = (body.contents ?? []) as { role?: string; parts: { text?: string }[] }[];
  const user = contents.filter((content) => content.role === "user").at(-1);
  return user?.parts.map((part) => part.text ?? "").join("") ?? "";
}

const usage = { promptTokenCount: 4, candidatesTokenCount: 3, totalTokenCount: 7, promptTokensDetails: [{ modality: "TEXT", tokenCount: 4 }] };

/** A whole answer, shaped as Google's documented generateContent response. */
export function echoAnswer(text: string, model: string): unknown {
  return {
    candidates: [{ content: { parts: [{ text }], role: "model" }, finishReason: "STOP", index: 0 }],
    usageMetadata: usage,
    modelVersion: model,
    responseId: "Un6LacrVMcjUxs0PmJfWoQc",
  };
}

/** A streamed answer: a chunk per word, the last with the finish reason; each repeats the usage so far. */
export function echoChunks(text: string, model: string): unknown[] {
  const words = text.split(/(?<= )/);
  return words.map((word, index) => {
    const last = index === words.length - 1;
    return {
      candidates: [{ content: { parts: [{ text: word }], role: "model" }, ...(last ? { finishReason: "STOP" } : {}), index: 0 }],
      usageMetadata: last ? usage : { promptTokenCount: 4, totalTokenCount: 4 + index, candidatesTokenCount: index },
      modelVersion: model,
      responseId: "dX6LadKVC7SZ28oPr9yJoQs",
    };
  });
}

/**
 * The scripted answer as stream chunks, as Gemini streams: text one word per chunk (usage so far in
 * each), or one chunk with the whole `functionCall`; the last chunk has finishReason STOP (Gemini
 * says STOP for function calls too) and the full usage.
 */
export function scriptedChunks(body: Record<string, unknown>, model: string, usage: GeminiUsage): Record<string, unknown>[] {
  const declared = ((body.tools ?? []) as { functionDeclarations?: { name: string }[] }[]).flatMap((tool) => tool.functionDeclarations ?? []);
  const mode = (body.toolConfig as { functionCallingConfig?: { mode?: string } } | undefined)?.functionCallingConfig?.mode;
  const fullUsage = { ...usage, totalTokenCount: usage.promptTokenCount + usage.candidatesTokenCount, promptTokensDetails: [{ modality: "TEXT", tokenCount: usage.promptTokenCount }] };
  const chunk = (parts: unknown[], last: boolean, index: number) => ({
    candidates: [{ content: { parts, role: "model" }, ...(last ? { finishReason: "STOP" } : {}), index: 0 }],
    usageMetadata: last ? fullUsage : { promptTokenCount: usage.promptTokenCount, cachedContentTokenCount: usage.cachedContentTokenCount, candidatesTokenCount: index, totalTokenCount: usage.promptTokenCount + index },
    modelVersion: model,
    responseId: "scriptedGeminiResponse01",
  });
  if (declared.length > 0 && mode !== "NONE") return [chunk([{ functionCall: { name: declared[0]!.name, args: { echo: lastUserText(body) } } }], true, 0)];
  const all = `echo: ${lastUserText(body)}`.split(/(?<= )/);
  const limit = (body.generationConfig as { maxOutputTokens?: number } | undefined)?.maxOutputTokens ?? Infinity;
  const words = all.slice(0, limit);
  const chunks = words.map((word, index) => chunk([{ text: word }], index === words.length - 1, index));
  if (words.length < all.length) (chunks.at(-1)!.candidates as { finishReason?: string }[])[0]!.finishReason = "MAX_TOKENS";
  return chunks;
}

/** Stream chunks as one generateContent answer: their parts joined, the last chunk's finish and usage. */
function mergeChunks(chunks: readonly Record<string, unknown>[]): Record<string, unknown> {
  type Candidate = { content: { parts: { text?: string }[] }; finishReason?: string };
  const candidates = chunks.map((chunk) => (chunk.candidates as Candidate[])[0]!);
  const parts = candidates.flatMap((candidate) => candidate.content.parts);
  const text = parts.every((part) => typeof part.text === "string") ? [{ text: parts.map((part) => part.text).join("") }] : parts;
  const last = chunks.at(-1)!;
  return { ...last, candidates: [{ content: { parts: text, role: "model" }, finishReason: candidates.at(-1)!.finishReason, index: 0 }] };
}
