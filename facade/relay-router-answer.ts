import type { ChatResponse, ChatStreamResponse } from "../gen/iir/inference/v1/inference_pb.js";
import { nextBatchOf } from "../services/common/async-iterables.js";
import type { RequestFacts } from "./app.js";
import { isHeaderSafe } from "./request-id.js";
import { readRouterErrorMetadata, readRouterMetadata } from "./router-metadata.js";
import type { RouterAnswer } from "./router-chat.js";
import type { Response } from "express";

/** Response header the router sets to say what its cache did (hit, miss, bypass). */
export const cacheHeader = "iir-cache";

/** Response header the router sets when `auto` chose the model: which, and why (no URL, no key). */
export const routeHeader = "x-iir-route";

/**
 * Reads the router's response headers into the request's facts, and passes the cache result on as
 * `x-iir-cache` and `auto`'s choice as `x-iir-route`.
 */
export function readAnswerHeaders(received: Headers, response: Response): void {
  const facts = response.locals.facts as RequestFacts;
  readRouterMetadata(facts, received, response);
  const cache = received.get(cacheHeader);
  if (cache !== null) {
    facts.cache = cache;
    response.setHeader("x-iir-cache", cache);
  }
  const route = received.get(routeHeader);
  if (route !== null && isRouteValue(route)) response.setHeader(routeHeader, route);
}

// Model names and reasons make it longer than request ids; still printable ASCII only, and bounded.
function isRouteValue(value: string): boolean {
  return value.length <= 1024 && /^[\x20-\x7e]*$/.test(value);
}

/** What {@link answerRouterChat} needs from its route. */
export interface RouterChatAnswer {
  /** Calls the router's Chat. */
  readonly open: () => Promise<RouterAnswer<ChatResponse>>;
  readonly response: Response;
  readonly signal: AbortSignal;
  /** Writes the answer in the route's API's format. */
  readonly send: (answer: ChatResponse) => void;
  /** The call failed (the client is still there): the route's error answer. */
  readonly onError: (error: unknown) => void;
}

/** A whole answer from the router: the request's facts get its backend, timing and usage, the client `x-iir-backend`. */
export async function answerRouterChat(call: RouterChatAnswer): Promise<void> {
  const { response } = call;
  const facts = response.locals.facts as RequestFacts;
  try {
    const { header, trailer, message: answer } = await call.open();
    readAnswerHeaders(header, response);
    readRouterMetadata(facts, trailer);
    facts.backend = answer.backend;
    facts.firstTokenMs = performance.now() - facts.startedAt;
    facts.promptTokens = answer.usage?.promptTokens;
    facts.completionTokens = answer.usage?.completionTokens;
    if (answer.backend !== "" && isHeaderSafe(answer.backend)) response.setHeader("x-iir-backend", answer.backend);
    call.send(answer);
  } catch (error) {
    readRouterErrorMetadata(facts, error, response);
    if (!call.signal.aborted) call.onError(error);
  }
}

/** A route's writer of router stream parts in its API's wire format (OpenAI chunks, Anthropic events…). */
export interface StreamPartWriter {
  /** Whether the 200 went out: after that, an error can only be one last event. */
  readonly started: boolean;
  add(part: ChatStreamResponse): void;
  /** Writes what was added since the last flush; a promise only when the socket's buffer is full. */
  flush(): Promise<void> | undefined;
  /** Ends a stream that finished. */
  finish(): void;
}

/** What {@link relayRouterStream} needs from its route. */
export interface RouterStreamRelay {
  /** Calls the router's ChatStream. */
  readonly open: () => Promise<RouterAnswer<AsyncIterable<ChatStreamResponse>>>;
  readonly writer: StreamPartWriter;
  readonly response: Response;
  readonly signal: AbortSignal;
  /** The call failed (the client is still there): an error answer before the 200, a last event after it. */
  readonly onError: (error: unknown) => void;
}

/**
 * Relays a router stream to the client: parts come in batches (all those one upstream read carried)
 * and each batch goes out in one write, waiting only when the socket is full, so nothing waits on a
 * later read. The request's facts get the backend, the time to the first token and the usage. A
 * client that goes away stops the router's call, as leaving a for-await would.
 */
export async function relayRouterStream(relay: RouterStreamRelay): Promise<void> {
  const { writer, response, signal } = relay;
  const facts = response.locals.facts as RequestFacts;
  let parts: AsyncIterator<ChatStreamResponse> | undefined;
  let finished = false;
  try {
    const stream = await relay.open();
    readAnswerHeaders(stream.header, response);
    parts = stream.message[Symbol.asyncIterator]();
    for (let batch = await nextBatchOf(parts); batch.done !== true; batch = await nextBatchOf(parts)) {
      for (const part of batch.value) {
        if (!writer.started) facts.backend = part.backend;
        noteStreamPart(facts, part);
        writer.add(part);
      }
      const wait = writer.flush();
      if (wait !== undefined) await wait;
      if (signal.aborted) return;
    }
    finished = true;
    readRouterMetadata(facts, stream.trailer);
    writer.finish();
  } catch (error) {
    finished = true;
    readRouterErrorMetadata(facts, error, response);
    if (!signal.aborted) relay.onError(error);
  } finally {
    if (!finished) await parts?.return?.();
  }
}

/** The first token (text, a tool call or reasoning reached the client) and the usage, for the request log. */
function noteStreamPart(facts: RequestFacts, part: ChatStreamResponse): void {
  const kind = part.event.case;
  if (facts.firstTokenMs === undefined && (kind === "text" || kind === "toolCall" || kind === "reasoning")) {
    facts.firstTokenMs = performance.now() - facts.startedAt;
  }
  if (kind === "usage") {
    facts.promptTokens = part.event.value.promptTokens;
    facts.completionTokens = part.event.value.completionTokens;
  }
}
