import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  answerTextFor,
  completionBody,
  errorFieldsForStatus,
  splitIntoDeltas,
  textChunks,
  toolCallChunks,
  toolCallCompletionBody,
  toolCallsFor,
  usageChunk,
  usageFor,
  type AnswerContext,
  type FakeErrorFields,
  type FakeRequestBody,
} from "./fake-openai-answers.js";
import { parseBody, readBody, sendError, sendJson, sendText, sleep, writeEvents, writeRaw } from "./fake-openai-wire.js";
import { defaultFailureAfterChunks, scenarioForModel, type RecordedRequest, type Scenario, type WireOptions } from "./fake-openai-scenarios.js";
import { answerEmbeddings } from "./fake-openai-embeddings.js";

export { modelScenarios, type RecordedRequest, type Scenario, type WireOptions } from "./fake-openai-scenarios.js";
export { answerTextFor, errorFieldsForStatus, lastUserText, splitIntoDeltas, type FakeErrorFields, type FakeRequestBody } from "./fake-openai-answers.js";

/**
 * A fake OpenAI-compatible upstream on 127.0.0.1, port 0: plain node:http speaking OpenAI's exact
 * chat completions wire format, for tests of everything that talks to OpenAI-compatible providers.
 *
 * Which behaviour answers a request, first match wins:
 * 1. the next scripted scenario (`script(...)`), one per chat request, in order;
 * 2. the request's model name (the part after the last `/`), see {@link modelScenarios}:
 *    - `fail-400` 400 invalid_request_error, param "messages", code "invalid_value";
 *    - `fail-401` 401 invalid_api_key whose message echoes the Bearer key it got, in full (a careless
 *      upstream; the gateway must redact it);
 *    - `fail-403`, `fail-404` (model_not_found, naming the model), `fail-429` (retry-after: 7,
 *      rate_limit_exceeded), `fail-500`, `fail-503` (retry-after: 2): OpenAI's bodies for those;
 *    - `fail-html` 502 with an HTML page (text/html), as a load balancer answers;
 *    - `drop-mid-stream`: role chunk and first delta, then the socket is destroyed (non-stream: half
 *      the JSON body, then destroyed);
 *    - `error-mid-stream`: two chunks, then `data: {"error":{…server_error…}}` and the end (non-stream:
 *      a 200 whose body is that error object);
 *    - `hang`: never answers, not even headers; `hang-mid-stream`: two chunks (non-stream: headers and
 *      half the body), then silence; both record when the client gives up (`whenClosedByClient`);
 *    - `tool-call` / `parallel-tool-calls`: one call / one call per offered tool, even without tools;
 *    - `finish-length`: the normal answer with finish_reason "length";
 *    - `wire-stress`: the normal answer in 1–13 byte writes at odd boundaries, CRLF line ends and
 *      `: keep-alive` comments between events;
 * 3. `options.defaultScenario`;
 * 4. the normal answer: tool calls when the request has `tools` (and tool_choice is not "none"),
 *    else the text `echo: <last user message>`, one word per delta, `n` choices.
 *
 * Streams follow OpenAI: a first chunk with `delta: {role: "assistant", content: ""}`, content deltas,
 * a chunk with an empty delta and the finish_reason, then, with `stream_options.include_usage`, a
 * chunk with `choices: []` and usage (earlier chunks carry `"usage": null`), then `data: [DONE]`.
 */
export interface FakeUpstream {
  /** `http://127.0.0.1:PORT/v1`. */
  readonly baseUrl: string;
  readonly port: number;
  /** Every request received, in order, including ones refused for a missing key. */
  readonly requests: readonly RecordedRequest[];
  /** The latest request; throws when there is none. */
  lastRequest(): RecordedRequest;
  /** Queues behaviours for the next chat requests, one each, before model names are looked at. */
  script(...next: Scenario[]): void;
  /** TCP connections accepted so far (keep-alive reuse keeps this low). */
  readonly connections: number;
  /** Answers the client closed before they finished (cancel, timeout). */
  readonly closedByClient: number;
  /** Resolves once `closedByClient` has reached `count` (default: one more than now). */
  whenClosedByClient(count?: number): Promise<void>;
  close(): Promise<void>;
}

/** Settings of the fake. */
export interface FakeUpstreamOptions {
  /** When set, requests without `authorization: Bearer <apiKey>` get OpenAI's 401. */
  readonly apiKey?: string;
  /** Answers requests that neither a script nor a model name chose. */
  readonly defaultScenario?: Scenario;
  /** How answers are written unless a scenario says otherwise. */
  readonly wire?: WireOptions;
  /** Ids listed by `GET /v1/models` (default `["gpt-fake"]`). */
  readonly models?: readonly string[];
  /** Also answer `POST /v1/embeddings`, as fake-openai-embeddings.ts does (default: 404). */
  readonly embeddings?: boolean;
  /**
   * The usage every normal answer (text or tool calls, whole or streamed) reports instead of the
   * counted one, e.g. with `prompt_tokens_details.cached_tokens` set, to check cached-token mapping.
   */
  readonly usage?: Record<string, unknown>;
  /** A text answer longer than `max_completion_tokens` (or `max_tokens`) words is cut there, finish_reason "length". */
  readonly cutAtMaxTokens?: boolean;
}

const serverErrorFields: FakeErrorFields = {
  message: "The server had an error while processing your request. Sorry about that!",
  type: "server_error",
  param: null,
  code: null,
};
// Responses whose connection the fake cut on purpose (drop-mid-stream).
const droppedByUs = new WeakSet<http.ServerResponse>();

/** Starts the fake on an OS-chosen loopback port. */
export async function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const requests: RecordedRequest[] = [];
  const queue: Scenario[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  let connections = 0;
  let closedByClient = 0;
  let closing = false;
  let sequence = 0;

  const noteClientClose = (recorded: RecordedRequest) => {
    recorded.closedByClient = true;
    closedByClient += 1;
    for (const waiter of waiters.filter((entry) => entry.count <= closedByClient)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  };

  const server = http.createServer((request, response) => {
    void readBody(request).then((rawBody) => {
      const recorded: RecordedRequest = {
        method: request.method ?? "",
        path: request.url ?? "",
        headers: request.headers,
        body: parseBody(rawBody),
        rawBody,
        remotePort: request.socket.remotePort ?? 0,
        scenario: "answer",
        closedByClient: false,
      };
      requests.push(recorded);
      response.once("close", () => {
        if (!response.writableFinished && !closing && !droppedByUs.has(response)) noteClientClose(recorded);
      });
      sequence += 1;
      return route(recorded, response, sequence);
    }).catch(() => response.destroy());
  });
  server.on("connection", () => {
    connections += 1;
  });

  const route = async (recorded: RecordedRequest, response: http.ServerResponse, number: number) => {
    const bearer = /^Bearer (.*)$/i.exec(recorded.headers.authorization ?? "")?.[1] ?? "";
    if (options.apiKey !== undefined && bearer !== options.apiKey) {
      recorded.scenario = "unauthorized";
      return sendError(response, 401, errorFieldsForStatus(401, recorded.body, bearer), {});
    }
    const path = recorded.path.split("?")[0];
    if (recorded.method === "GET" && path === "/v1/models") {
      recorded.scenario = "models";
      const data = (options.models ?? ["gpt-fake"]).map((id) => ({ id, object: "model", created: 1_700_000_000, owned_by: "fake" }));
      return sendJson(response, 200, { object: "list", data });
    }
    if (options.embeddings === true && recorded.method === "POST" && path === "/v1/embeddings") return answerEmbeddings(recorded.body, response);
    if (recorded.method !== "POST" || path !== "/v1/chat/completions") {
      recorded.scenario = "not-found";
      const error = { message: `Invalid URL (${recorded.method} ${path})`, type: "invalid_request_error", param: null, code: null };
      return sendError(response, 404, error, {});
    }
    const scenario = queue.shift() ?? scenarioForModel(recorded.body.model) ?? options.defaultScenario ?? { kind: "answer" };
    recorded.scenario = scenario.kind;
    if (scenario.kind === "custom") return scenario.handle(recorded, response);
    if (scenario.headersDelayMs !== undefined) await sleep(scenario.headersDelayMs);
    if (response.destroyed) return;
    const wire = scenario.wire ?? options.wire ?? {};
    return answerChat(scenario, recorded.body, response, wire, contextFor(recorded.body, number, options), bearer);
  };

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    lastRequest() {
      const last = requests.at(-1);
      if (last === undefined) throw new Error("the fake upstream has received no request");
      return last;
    },
    script(...next) {
      queue.push(...next);
    },
    get connections() {
      return connections;
    },
    get closedByClient() {
      return closedByClient;
    },
    whenClosedByClient(count = closedByClient + 1) {
      if (closedByClient >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    async close() {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** Answers a chat request the way the scenario says. */
async function answerChat(
  scenario: Exclude<Scenario, { kind: "custom" }>,
  body: FakeRequestBody,
  response: http.ServerResponse,
  wire: WireOptions,
  context: AnswerContext,
  bearer: string,
): Promise<void> {
  switch (scenario.kind) {
    case "error":
      if (scenario.body !== undefined) return sendText(response, scenario.status, scenario.body, scenario.contentType ?? "text/plain", scenario.headers ?? {});
      return sendError(response, scenario.status, scenario.error ?? errorFieldsForStatus(scenario.status, body, bearer), scenario.headers ?? {});
    case "raw":
      return writeRaw(response, scenario.status ?? 200, scenario.headers ?? {}, scenario.chunks, wire.delayMs ?? 1);
    case "hang":
      if (scenario.afterChunks === undefined) return;
      break;
    default:
      break;
  }
  const normal = normalAnswer(scenario, body, context);
  if (body.stream !== true) return answerWhole(scenario, response, normal.whole);
  const events = normal.chunks.map((chunk) => JSON.stringify(chunk));
  if (scenario.kind === "drop-mid-stream" || scenario.kind === "hang") {
    const sent = await writeEvents(response, events.slice(0, scenario.afterChunks ?? defaultFailureAfterChunks), wire, false);
    if (sent && scenario.kind === "drop-mid-stream") dropConnection(response);
    return;
  }
  if (scenario.kind === "error-mid-stream") {
    const failure = JSON.stringify({ error: scenario.error ?? serverErrorFields });
    return void writeEvents(response, [...events.slice(0, scenario.afterChunks ?? defaultFailureAfterChunks), failure], wire, true);
  }
  if (context.includeUsage && normal.usage !== undefined) events.push(JSON.stringify(usageChunk(context, normal.usage)));
  return void writeEvents(response, [...events, "[DONE]"], wire, true);
}

interface NormalAnswer {
  /** Chunks up to and including the finish, without usage and `[DONE]`. */
  readonly chunks: Record<string, unknown>[];
  readonly whole: Record<string, unknown>;
  readonly usage: Record<string, unknown> | undefined;
}

function normalAnswer(scenario: Exclude<Scenario, { kind: "custom" | "raw" | "error" }>, body: FakeRequestBody, context: AnswerContext): NormalAnswer {
  const answerScenario = scenario.kind === "answer" ? scenario : undefined;
  const textGiven = answerScenario?.text !== undefined || answerScenario?.deltas !== undefined;
  const wantsTools = Array.isArray(body.tools) && body.tools.length > 0 && body.tool_choice !== "none" && !textGiven;
  if (scenario.kind === "tool-calls" || wantsTools) {
    const calls = scenario.kind === "tool-calls" ? (scenario.calls ?? toolCallsFor(body, scenario.allTools === true)) : toolCallsFor(body, false);
    const chunks = toolCallChunks(context, calls);
    const usage = context.usage ?? usageFor(body, chunks.length - 1);
    return { chunks, whole: toolCallCompletionBody(context, calls, usage), usage };
  }
  const fullDeltas = answerScenario?.deltas ?? splitIntoDeltas(answerScenario?.text ?? answerTextFor(body));
  const cut = !textGiven && context.maxWords !== undefined && fullDeltas.length > context.maxWords;
  const deltas = cut ? fullDeltas.slice(0, context.maxWords) : fullDeltas;
  const text = answerScenario?.text ?? deltas.join("");
  const finishReason = answerScenario?.finishReason ?? (cut ? "length" : "stop");
  const usage = answerScenario?.usage === null ? undefined : (answerScenario?.usage ?? context.usage ?? usageFor(body, deltas.length));
  return { chunks: textChunks(context, deltas, finishReason), whole: completionBody(context, text, finishReason, usage), usage };
}

/** A non-stream answer, or its failure: half a body then a cut, half a body then silence, a 200 error. */
function answerWhole(scenario: Scenario, response: http.ServerResponse, whole: Record<string, unknown>): void {
  if (scenario.kind === "error-mid-stream") return sendJson(response, 200, { error: scenario.error ?? serverErrorFields });
  const text = JSON.stringify(whole);
  if (scenario.kind !== "drop-mid-stream" && scenario.kind !== "hang") return sendJson(response, 200, whole);
  response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  response.write(text.slice(0, Math.floor(text.length / 2)));
  if (scenario.kind === "drop-mid-stream") setTimeout(() => dropConnection(response), 5);
}

/** Cuts the connection under a response; the fake's own cut is not counted as the client's. */
function dropConnection(response: http.ServerResponse): void {
  droppedByUs.add(response);
  response.socket?.destroy();
}

function contextFor(body: FakeRequestBody, number: number, options: FakeUpstreamOptions): AnswerContext {
  const streamOptions = body.stream_options;
  const includeUsage = typeof streamOptions === "object" && streamOptions !== null && (streamOptions as Record<string, unknown>).include_usage === true;
  return {
    id: `chatcmpl-fake${number}`,
    created: Math.floor(Date.now() / 1000),
    model: typeof body.model === "string" ? body.model : "",
    choices: typeof body.n === "number" && body.n > 1 ? Math.floor(body.n) : 1,
    includeUsage,
    usage: options.usage,
    maxWords: options.cutAtMaxTokens === true ? maxTokensOf(body) : undefined,
  };
}

function maxTokensOf(body: FakeRequestBody): number | undefined {
  const limit = body.max_completion_tokens ?? body.max_tokens;
  return typeof limit === "number" ? limit : undefined;
}
