import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A fake Anthropic API on 127.0.0.1, port 0: plain node:http answering `POST /v1/messages`,
 * `POST /v1/messages/count_tokens` and `GET /v1/models` in Anthropic's exact wire format. The bodies
 * and event streams below are copied from Anthropic's documentation (Streaming Messages, Errors,
 * Messages, Tool use, Extended thinking, Token counting, Models); streams go out one event per write.
 *
 * Which answer a request gets: the next scripted one (`script(...)`), else, with the `echo` option,
 * one built from the request (see {@link echoAnswer}), else the documented message (or, for
 * `stream: true`, the documented basic stream). A request without the configured key gets
 * Anthropic's 401.
 */

/** One documented SSE event, exactly as Anthropic writes it (ending in a blank line). */
export type SseEvent = string;

/** An answer the fake gives. */
export type FakeAnthropicAnswer =
  | { readonly kind: "json"; readonly status?: number; readonly body: string; readonly headers?: Record<string, string> }
  | { readonly kind: "stream"; readonly events: readonly SseEvent[] };

export interface RecordedAnthropicRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  /** The parsed JSON body; `{}` for a GET. */
  readonly body: Record<string, unknown>;
}

export interface FakeAnthropic {
  /** `http://127.0.0.1:PORT`, without `/v1`, as ANTHROPIC_BASE_URL takes it. */
  readonly baseUrl: string;
  readonly requests: readonly RecordedAnthropicRequest[];
  lastRequest(): RecordedAnthropicRequest;
  /** Queues answers for the next requests, one each. */
  script(...answers: FakeAnthropicAnswer[]): void;
  close(): Promise<void>;
}

// --- Streaming Messages: "Basic streaming request" ----------------------------------------------
export const basicStream: readonly SseEvent[] = [
  `event: message_start\ndata: {"type": "message_start", "message": {"id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-5-20250929", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}}\n\n`,
  `event: content_block_start\ndata: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}\n\n`,
  `event: ping\ndata: {"type": "ping"}\n\n`,
  `event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}\n\n`,
  `event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}\n\n`,
  `event: content_block_stop\ndata: {"type": "content_block_stop", "index": 0}\n\n`,
  `event: message_delta\ndata: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence":null}, "usage": {"output_tokens": 15}}\n\n`,
  `event: message_stop\ndata: {"type": "message_stop"}\n\n`,
];

// --- Streaming Messages: "Streaming request with tool use" --------------------------------------
const toolTextDeltas = ["Okay", ",", " let", "'s", " check", " the", " weather", " for", " San", " Francisco", ",", " CA", ":"];
const toolJsonDeltas = [``, `{\\"location\\":`, ` \\"San`, ` Francisc`, `o,`, ` CA\\"`, `, `, `\\"unit\\": \\"fah`, `renheit\\"}`];
export const toolUseStream: readonly SseEvent[] = [
  `event: message_start\ndata: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},"content":[],"stop_reason":null}}\n\n`,
  `event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n`,
  `event: ping\ndata: {"type": "ping"}\n\n`,
  ...toolTextDeltas.map((text) => `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"${text}"}}\n\n`),
  `event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n`,
  `event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}\n\n`,
  ...toolJsonDeltas.map((json) => `event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"${json}"}}\n\n`),
  `event: content_block_stop\ndata: {"type":"content_block_stop","index":1}\n\n`,
  `event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}\n\n`,
  `event: message_stop\ndata: {"type":"message_stop"}\n\n`,
];

// --- Streaming Messages: "Streaming request with extended thinking" ------------------------------
const thinkingDeltas = ["Let me solve this step by step:\\n\\n1. First break down 27 * 453", "\\n2. 453 = 400 + 50 + 3", "\\n3. 27 * 400 = 10,800", "\\n4. 27 * 50 = 1,350", "\\n5. 27 * 3 = 81", "\\n6. 10,800 + 1,350 + 81 = 12,231"];
export const thinkingSignature = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds...";
export const thinkingStream: readonly SseEvent[] = [
  `event: message_start\ndata: {"type": "message_start", "message": {"id": "msg_01...", "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-5-20250929", "stop_reason": null, "stop_sequence": null}}\n\n`,
  `event: content_block_start\ndata: {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}\n\n`,
  ...thinkingDeltas.map((text) => `event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "${text}"}}\n\n`),
  `event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "${thinkingSignature}"}}\n\n`,
  `event: content_block_stop\ndata: {"type": "content_block_stop", "index": 0}\n\n`,
  `event: content_block_start\ndata: {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}\n\n`,
  `event: content_block_delta\ndata: {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "27 * 453 = 12,231"}}\n\n`,
  `event: content_block_stop\ndata: {"type": "content_block_stop", "index": 1}\n\n`,
  `event: message_delta\ndata: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}}\n\n`,
  `event: message_stop\ndata: {"type": "message_stop"}\n\n`,
];

// --- Streaming Messages: "Error events" ---------------------------------------------------------
export const overloadedEvent: SseEvent = `event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n`;

// --- Messages API reference: the example response -----------------------------------------------
export const messageBody = `{"content":[{"text":"Hi! My name is Claude.","type":"text"}],"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF","model":"claude-3-5-sonnet-20240620","role":"assistant","stop_reason":"end_turn","stop_sequence":null,"type":"message","usage":{"input_tokens":2095,"output_tokens":503}}`;

/** The documented message with another stop reason and stop sequence (every stop_reason is the same shape). */
export function messageBodyStopping(stopReason: string, stopSequence: string | null = null): string {
  return messageBody.replace(`"stop_reason":"end_turn","stop_sequence":null`, `"stop_reason":"${stopReason}","stop_sequence":${stopSequence === null ? "null" : JSON.stringify(stopSequence)}`);
}

// --- Tool use: the example response -------------------------------------------------------------
export const toolUseBody = `{"id":"msg_01Aq9w938a90dw8q","model":"claude-sonnet-4-5","stop_reason":"tool_use","role":"assistant","content":[{"type":"text","text":"I'll check the current weather in San Francisco for you."},{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"location":"San Francisco, CA","unit":"celsius"}}]}`;

// --- Extended thinking: a thinking block and a redacted one before the answer --------------------
export const redactedData = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj2pLmN3kF8/dW5hR7xJ0aP1oLs9yTcMnKVf2wRpEGjH9XZaBt4UvDcPrQ...";
export const thinkingBody = `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"thinking","thinking":"Let me analyze this step by step...","signature":"WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG/UvLEczmEsUjavL...."},{"type":"redacted_thinking","data":"${redactedData}"},{"type":"text","text":"Based on my analysis..."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":21,"cache_creation_input_tokens":188086,"cache_read_input_tokens":0,"output_tokens":393}}`;

// --- Prompt caching: usage of a call that read the cache ----------------------------------------
export const cachedReadBody = messageBody.replace(`"usage":{"input_tokens":2095,"output_tokens":503}`, `"usage":{"input_tokens":21,"cache_creation_input_tokens":0,"cache_read_input_tokens":188086,"output_tokens":393}`);

// --- Errors: the shape, with each documented type and status -------------------------------------
export const errorStatuses: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  overloaded_error: 529,
};

export function errorBody(type: string, message: string): string {
  return `{"type":"error","error":{"type":"${type}","message":"${message}"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`;
}

// --- Token counting and Models -------------------------------------------------------------------
export const countTokensBody = `{"input_tokens":14}`;
export function modelsPage(ids: readonly string[], hasMore: boolean): string {
  const data = ids.map((id) => `{"created_at":"2025-02-19T00:00:00Z","display_name":"${id}","id":"${id}","type":"model"}`).join(",");
  return `{"data":[${data}],"first_id":${JSON.stringify(ids[0] ?? null)},"has_more":${hasMore},"last_id":${JSON.stringify(ids.at(-1) ?? null)}}`;
}

/** Settings of the fake. */
export interface FakeAnthropicOptions {
  /** When set, requests must send it as `x-api-key`. */
  readonly apiKey?: string;
  /** Answer each message request from its content, reporting this usage (see {@link echoAnswer}). */
  readonly echo?: AnthropicUsage;
}

/** Anthropic's usage block: `input_tokens` leaves out the tokens read from and written to the cache. */
export interface AnthropicUsage {
  readonly input_tokens: number;
  readonly output_tokens: number;
  readonly cache_read_input_tokens: number;
  readonly cache_creation_input_tokens: number;
}

/**
 * An answer made from the request, in the documented shapes: with `tools` (and tool_choice not
 * `none`) one `tool_use` block calling the forced tool or the first one with input
 * `{"echo": <last user text>}`, stop_reason `tool_use`; else the text `echo: <last user text>`,
 * `end_turn`, or cut to `max_tokens` words, `max_tokens`, when it has more words than that. Streamed: message_start with the input counts, one delta per word (or per 4 characters
 * of JSON), message_delta with the stop reason and output_tokens.
 */
export function echoAnswer(body: Record<string, unknown>, usage: AnthropicUsage): FakeAnthropicAnswer {
  const lastUser = lastUserText(body);
  const tools = Array.isArray(body.tools) ? (body.tools as { name?: string }[]) : [];
  const choice = body.tool_choice as { type?: string; name?: string } | undefined;
  const useTool = tools.length > 0 && choice?.type !== "none";
  const id = "msg_01EchoFake0000000000000";
  const model = typeof body.model === "string" ? body.model : "claude-fake";
  const toolName = choice?.type === "tool" && choice.name !== undefined ? choice.name : (tools[0]?.name ?? "tool");
  const input = { echo: lastUser };
  const words = `echo: ${lastUser}`.match(/\s*\S+/g) ?? [];
  const limit = typeof body.max_tokens === "number" ? body.max_tokens : Infinity;
  const cut = !useTool && words.length > limit;
  const text = words.slice(0, cut ? limit : undefined).join("");
  const stopReason = useTool ? "tool_use" : cut ? "max_tokens" : "end_turn";
  if (body.stream !== true) {
    const content = useTool ? [{ type: "tool_use", id: "toolu_01EchoFake000000000000", name: toolName, input }] : [{ type: "text", text }];
    return { kind: "json", body: JSON.stringify({ id, type: "message", role: "assistant", model, content, stop_reason: stopReason, stop_sequence: null, usage }) };
  }
  const event = (type: string, data: Record<string, unknown>): SseEvent => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const { output_tokens: outputTokens, ...inputUsage } = usage;
  const block = useTool ? { type: "tool_use", id: "toolu_01EchoFake000000000000", name: toolName, input: {} } : { type: "text", text: "" };
  const deltas = useTool
    ? (JSON.stringify(input).match(/[\s\S]{1,4}/g) ?? []).map((partial_json) => ({ type: "input_json_delta", partial_json }))
    : (text.match(/\s*\S+/g) ?? []).map((piece) => ({ type: "text_delta", text: piece }));
  return {
    kind: "stream",
    events: [
      event("message_start", { message: { id, type: "message", role: "assistant", content: [], model, stop_reason: null, stop_sequence: null, usage: { ...inputUsage, output_tokens: 1 } } }),
      event("content_block_start", { index: 0, content_block: block }),
      event("ping", {}),
      ...deltas.map((delta) => event("content_block_delta", { index: 0, delta })),
      event("content_block_stop", { index: 0 }),
      event("message_delta", { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: outputTokens } }),
      event("message_stop", {}),
    ],
  };
}

function lastUserText(body: Record<string, unknown>): string {
  const messages = Array.isArray(body.messages) ? (body.messages as { role?: string; content?: unknown }[]) : [];
  const content = messages.filter((message) => message.role === "user").at(-1)?.content;
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((block: { type?: string; text?: string }) => (block.type === "text" ? (block.text ?? "") : "")).join("");
}

/** Starts the fake on an OS-chosen loopback port. */
export async function startFakeAnthropic(options: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  const requests: RecordedAnthropicRequest[] = [];
  const scripted: FakeAnthropicAnswer[] = [];
  const sockets = new Set<import("node:net").Socket>();
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const body = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
      requests.push({ method: request.method ?? "", path: request.url ?? "", headers: request.headers, body });
      if (options.apiKey !== undefined && request.headers["x-api-key"] !== options.apiKey) {
        void answer(response, { kind: "json", status: 401, body: errorBody("authentication_error", "invalid x-api-key") });
        return;
      }
      const next = scripted.shift();
      if (next !== undefined) void answer(response, next);
      else if (request.url?.startsWith("/v1/messages/count_tokens")) void answer(response, { kind: "json", body: countTokensBody });
      else if (request.url?.startsWith("/v1/models")) void answer(response, { kind: "json", body: modelsPage(["claude-sonnet-4-20250514"], false) });
      else if (options.echo !== undefined) void answer(response, echoAnswer(body, options.echo));
      else void answer(response, body.stream === true ? { kind: "stream", events: basicStream } : { kind: "json", body: messageBody });
    });
  });
  server.on("connection", (socket) => sockets.add(socket));
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    lastRequest() {
      const last = requests.at(-1);
      if (last === undefined) throw new Error("the fake Anthropic API got no request");
      return last;
    },
    script: (...answers) => void scripted.push(...answers),
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

async function answer(response: http.ServerResponse, next: FakeAnthropicAnswer): Promise<void> {
  if (next.kind === "json") {
    response.writeHead(next.status ?? 200, { "content-type": "application/json", "request-id": "req_018EeWyXxfu5pfWkrYcMdjWG", ...(next.headers ?? {}) });
    response.end(next.body);
    return;
  }
  response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
  for (const event of next.events) {
    response.write(event);
    // One event per write, each leaving before the next is written.
    await new Promise((resolve) => setImmediate(resolve));
  }
  response.end();
}
