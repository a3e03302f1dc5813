import type { ServerResponse } from "node:http";
import type { ChatStreamResponse } from "../gen/iir/inference/v1/inference_pb.js";
import { endAtTurnEnd, holdWritesUntilTurnEnds } from "../services/common/turn-batched-writes.js";
import { waitForDrain } from "../services/common/wait-for-drain.js";
import { isHeaderSafe } from "./request-id.js";
import { anthropicErrorEvent, AnthropicStreamState } from "./translate/anthropic/anthropic-stream-state.js";
import type { AnthropicErrorBody } from "./translate/anthropic/anthropic-types.js";

/** What an Anthropic stream needs to know before its first part arrives. */
export interface AnthropicSseWriterOptions {
  /** The message id (`msg_…`) of message_start. */
  readonly id: string;
  /** Used as `model` when the backend reports none. */
  readonly requestedModel: string;
}

/** The per-request writer of one Anthropic stream; see createAnthropicSseWriter. */
export interface AnthropicSseWriter {
  /** Whether the 200 and message_start went out; after that, errors can only be events. */
  readonly started: boolean;
  /** Adds one part's events to what the next flush writes. */
  add(part: ChatStreamResponse): void;
  /** Writes the events added since the last flush in one write; a promise only when the socket's buffer is full. */
  flush(): Promise<void> | undefined;
  /** Ends a stream that finished: the open block's stop, message_delta, message_stop. */
  finish(): void;
  /** Ends a stream that failed after it began: one `event: error` and nothing after it. */
  fail(body: AnthropicErrorBody): void;
}

const streamHeaders = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  connection: "keep-alive",
} as const;

/**
 * Turns router stream parts into Anthropic's SSE events (anthropic-stream-state.ts). As the OpenAI
 * writer (sse-writer.ts): headers wait for the first part, which names the backend and the model,
 * so a failure before it is still a plain error answer; the route flushes once per batch of parts,
 * one write per batch, the turn's writes leaving together (turn-batched-writes.ts); a full socket
 * buffer makes the route wait for drain.
 */
export function createAnthropicSseWriter(response: ServerResponse, options: AnthropicSseWriterOptions): AnthropicSseWriter {
  let state: AnthropicStreamState | undefined;
  let pending = "";

  const start = (backend: string, model: string): AnthropicStreamState => {
    const opened = new AnthropicStreamState(options.id, model || options.requestedModel);
    state = opened;
    if (backend !== "" && isHeaderSafe(backend)) response.setHeader("x-iir-backend", backend);
    response.socket?.setNoDelay(true);
    response.writeHead(200, streamHeaders);
    pending += opened.start();
    return opened;
  };

  return {
    get started() {
      return state !== undefined;
    },
    add(part) {
      const current = state ?? start(part.backend, part.model);
      pending += current.add(part);
    },
    flush() {
      if (pending === "") return undefined;
      const text = pending;
      pending = "";
      if (response.socket !== null) holdWritesUntilTurnEnds(response.socket);
      return response.write(text) ? undefined : waitForDrain(response);
    },
    finish() {
      const current = state ?? start("", "");
      const text = pending + current.finish();
      pending = "";
      endAtTurnEnd(response, text);
    },
    fail(body) {
      // Events added before the failure still go out, then the error.
      const text = pending;
      pending = "";
      endAtTurnEnd(response, text + anthropicErrorEvent(body));
    },
  };
}
