import http from "node:http";
import https from "node:https";
import { urlToHttpOptions } from "node:url";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ChatParams, ChatResponse, ChatStreamResponse } from "../../../../gen/iir/inference/v1/inference_pb.js";
import { flattenBatches } from "../../../common/async-iterables.js";
import { partsFromChatResponse } from "../../../common/chat-response-parts.js";
import { connectErrorFromNodeError } from "../../../common/errors.js";
import type { ChatAdapter, ChatTarget } from "../adapter.js";
import { chatResponseFromOpenAI } from "./convert-from-openai-response.js";
import { chatParamsToOpenAIRequest } from "./convert-to-openai-request.js";
import { connectErrorFromUpstreamResponse } from "./openai-error.js";
import { createOpenAIStreamState } from "./openai-stream-state.js";
import { createSseParser } from "./sse-parser.js";

/** Settings of the OpenAI-compatible adapter. */
export interface OpenAICompatibleAdapterOptions {
  /** Longest wait for the upstream's answer headers, and between two streamed chunks. */
  readonly timeoutMs: number;
  /** Connections kept per upstream host (default 256). */
  readonly maxSockets?: number;
}

// Error bodies are read only to quote the provider; a runaway body stops here.
const maximumErrorBodyBytes = 64 * 1024;
// Non-stream answers are buffered whole; a larger one is a broken upstream, not an answer.
const maximumAnswerBytes = 64 * 1024 * 1024;

/**
 * The adapter for every server that speaks OpenAI's chat completions API: OpenAI, llm-d, OpenRouter,
 * Groq, Venice. Connections are kept alive and pooled per host; aborting the signal aborts the
 * upstream request; failures become Connect codes with the provider's own error as a detail.
 */
export function createOpenAICompatibleAdapter(options: OpenAICompatibleAdapterOptions): ChatAdapter {
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 256, maxFreeSockets: 64, scheduling: "lifo" as const };
  const agents = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };
  const send = (target: ChatTarget, params: ChatParams, stream: boolean, signal: AbortSignal): Promise<UpstreamAnswer> =>
    postJson(agents, target, JSON.stringify(chatParamsToOpenAIRequest(params, target.upstreamModel, stream)), signal, options.timeoutMs);

  const readAnswer = async ({ response, settle }: UpstreamAnswer, target: ChatTarget, signal: AbortSignal): Promise<ChatResponse> => {
    const text = await readBody(response, maximumAnswerBytes, target, signal, options.timeoutMs);
    settle();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ConnectError(`${target.provider} upstream returned malformed response: the body is not JSON`, Code.Unavailable);
    }
    return chatResponseFromOpenAI(json, target.backend, target.provider, target.apiKey);
  };

  return {
    async chat(params, target, signal): Promise<ChatResponse> {
      return readAnswer(await send(target, params, false, signal), target, signal);
    },
    chatStream(params, target, signal): AsyncIterable<ChatStreamResponse> {
      return flattenBatches(streamBatches(params, target, signal));
    },
  };

  /**
   * The answer's parts, a batch per read from the upstream: one TCP read often carries many SSE
   * events, and the layers above take them in one step (services/common/async-iterables.ts).
   */
  async function* streamBatches(params: ChatParams, target: ChatTarget, signal: AbortSignal): AsyncGenerator<readonly ChatStreamResponse[]> {
    const answer = await send(target, params, true, signal);
    const response = answer.response;
    // Some servers ignore `stream: true` and answer (or fail) with one JSON body: replay it as parts.
    if (response.headers["content-type"]?.startsWith("application/json")) {
      const parts = partsFromChatResponse(await readAnswer(answer, target, signal));
      if (parts.length > 0) yield parts;
      return;
    }
    const parser = createSseParser();
    const state = createOpenAIStreamState(target);
    // Parts of the events before a bad one still reach the client, then the error does.
    const partsOf = (events: Iterable<{ data: string }>): { parts: ChatStreamResponse[]; error?: { thrown: unknown } } => {
      const parts: ChatStreamResponse[] = [];
      try {
        for (const event of events) parts.push(...state.partsFromEventData(event.data));
      } catch (thrown) {
        return { parts, error: { thrown } };
      }
      return { parts };
    };
    // Not destroyed on an early return: after `[DONE]` the rest of the body (often just the chunked
    // terminator, in a later packet) is drained, so the connection goes back to the pool.
    const chunks = withIdleTimeout(response, options.timeoutMs, target).iterator({ destroyOnReturn: false });
    try {
      for await (const chunk of chunks) {
        const { parts, error } = partsOf(parser.feed(chunk as Buffer));
        if (parts.length > 0) yield parts;
        if (error !== undefined) throw error.thrown;
        if (parser.done) {
          answer.settle();
          return;
        }
      }
      const { parts, error } = partsOf(parser.end());
      if (parts.length > 0) yield parts;
      if (error !== undefined) throw error.thrown;
    } catch (error) {
      throw failure(error, target, signal);
    } finally {
      // A finished answer drains (the idle timeout still ends an upstream that never closes the body);
      // leaving early (client gone, error) must not leave the upstream generating for nobody.
      if (!response.complete) {
        if (parser.done) response.resume();
        else response.destroy();
      }
    }
    if (!parser.done && !state.finished) {
      throw new ConnectError(`${target.provider} upstream closed the stream before it finished`, Code.Unavailable);
    }
  }
}

interface Agents {
  readonly http: http.Agent;
  readonly https: https.Agent;
}

/** POSTs a JSON body to `<baseUrl>/chat/completions`; resolves with a 2xx response, else throws its error. */
/** An upstream's 2xx answer; `settle()` says the answer was read in full, so a later abort leaves the connection alone. */
interface UpstreamAnswer {
  readonly response: http.IncomingMessage;
  settle(): void;
}

async function postJson(agents: Agents, target: ChatTarget, body: string, signal: AbortSignal, timeoutMs: number): Promise<UpstreamAnswer> {
  const endpoint = endpointOf(target.baseUrl);
  const secure = endpoint.secure;
  const headers: http.OutgoingHttpHeaders = {
    // First, so that nothing passed along (trace context) can replace what the request needs.
    ...target.headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    accept: "application/json, text/event-stream",
  };
  if (target.apiKey !== undefined) headers.authorization = `Bearer ${target.apiKey}`;
  let detachAbort = () => {};
  const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const request = (secure ? https : http).request({ ...endpoint.options, method: "POST", headers, agent: secure ? agents.https : agents.http });
    // Abort is wired by hand rather than with the `signal` option, which stays attached after the
    // answer and would then destroy a socket already back in the pool (the handler's signal also
    // fires after a normal finish). Destroyed without an error: the reader maps it to Canceled.
    let answer: http.IncomingMessage | undefined;
    const onAbort = () => {
      if (answer === undefined) request.destroy();
      else if (!answer.complete) answer.destroy();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const detach = () => signal.removeEventListener("abort", onAbort);
    detachAbort = detach;
    request.once("response", (response) => {
      answer = response;
      response.once("end", detach);
      response.once("close", detach);
      // Readers see body errors through iteration; this one covers a body left draining after [DONE].
      response.on("error", ignore);
      resolve(response);
    });
    request.once("close", () => {
      if (answer === undefined) detach();
    });
    request.setTimeout(timeoutMs, () => request.destroy(new ConnectError(`${target.provider} upstream did not answer within ${timeoutMs} ms`, Code.DeadlineExceeded)));
    // Kept for the request's whole life: a second error (a destroy after the first) must not go unheard.
    request.on("error", reject);
    request.end(body);
  }).catch((error: unknown) => {
    throw failure(error, target, signal);
  });
  const status = response.statusCode ?? 0;
  if (status >= 200 && status < 300) return { response, settle: detachAbort };
  const text = await readBody(response, maximumErrorBodyBytes, target, signal, timeoutMs).catch(() => "");
  const error = connectErrorFromUpstreamResponse(status, text, target.provider, target.apiKey);
  // The facade answers a 429 with the provider's own Retry-After, read from the error's metadata.
  const retryAfter = response.headers["retry-after"];
  if (retryAfter !== undefined && retryAfter !== "") error.metadata.set("retry-after", retryAfter);
  throw error;
}

function ignore(): void {}

/** Where a base URL's chat completions are POSTed, as request options; parsed once per base URL. */
interface Endpoint {
  readonly secure: boolean;
  readonly options: http.RequestOptions;
}

const endpoints = new Map<string, Endpoint>();
// Base URLs come from configuration and the registry; this only bounds a registry that churns.
const maximumEndpoints = 1000;

function endpointOf(baseUrl: string): Endpoint {
  let endpoint = endpoints.get(baseUrl);
  if (endpoint === undefined) {
    const url = new URL(`${baseUrl}/chat/completions`);
    endpoint = { secure: url.protocol === "https:", options: urlToHttpOptions(url) };
    if (endpoints.size >= maximumEndpoints) endpoints.clear();
    endpoints.set(baseUrl, endpoint);
  }
  return endpoint;
}

/**
 * Reads a whole body as text; past `limit` bytes the rest is dropped (errors) or refused (answers).
 * Event listeners rather than `for await`: an answer is usually one chunk, and an async iterator
 * costs more than reading it.
 */
function readBody(response: http.IncomingMessage, limit: number, target: ChatTarget, signal: AbortSignal, timeoutMs: number): Promise<string> {
  withIdleTimeout(response, timeoutMs, target);
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const text = () => (chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks, size).toString("utf8"));
    const settle = (error: unknown) => {
      response.off("data", onData);
      response.off("end", onEnd);
      response.off("error", onError);
      response.off("close", onClose);
      if (error === undefined) resolve(text());
      else reject(failure(error, target, signal));
    };
    const onData = (chunk: Buffer) => {
      if (size + chunk.length > limit) {
        response.destroy();
        settle(limit === maximumErrorBodyBytes ? undefined : new ConnectError(`${target.provider} upstream answer is larger than ${limit} bytes`, Code.Unavailable));
        return;
      }
      size += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = () => settle(undefined);
    const onError = (error: unknown) => settle(error);
    // Closed before its end without an error: destroyed by an abort.
    const onClose = () => settle(Object.assign(new Error("the upstream answer ended early"), { code: "ERR_STREAM_PREMATURE_CLOSE" }));
    response.on("data", onData);
    response.once("end", onEnd);
    response.once("error", onError);
    response.once("close", onClose);
  });
}

/** The body, whose silence longer than timeoutMs ends it with DeadlineExceeded. */
function withIdleTimeout(response: http.IncomingMessage, timeoutMs: number, target: ChatTarget): http.IncomingMessage {
  response.setTimeout(timeoutMs, () =>
    response.destroy(new ConnectError(`${target.provider} upstream went silent for ${timeoutMs} ms`, Code.DeadlineExceeded)),
  );
  return response;
}

/** One Connect error for whatever went wrong talking to the upstream. */
function failure(error: unknown, target: ChatTarget, signal: AbortSignal): ConnectError {
  if (error instanceof ConnectError) return error;
  if (signal.aborted) return new ConnectError("the client canceled the request", Code.Canceled);
  const nodeCode = (error as { code?: unknown } | undefined)?.code;
  // A socket cut while the body streams: the upstream dropped us mid-answer.
  if (nodeCode === "ECONNRESET" || (error as Error | undefined)?.message === "aborted") {
    return new ConnectError(`${target.provider} upstream dropped the connection mid-answer`, Code.Unavailable);
  }
  return connectErrorFromNodeError(error, `${target.provider} upstream at ${target.baseUrl} is unreachable`);
}
