import type { ServerResponse } from "node:http";
import type { ChatStreamResponse, Usage } from "../gen/iir/inference/v1/inference_pb.js";
import type { OpenAIErrorBody } from "../services/common/openai-types.js";
import { endAtTurnEnd, holdWritesUntilTurnEnds } from "../services/common/turn-batched-writes.js";
import { waitForDrain } from "../services/common/wait-for-drain.js";
import { isHeaderSafe } from "./request-id.js";
import {
  chunkEvent,
  chunkPrefix,
  partEvent,
  roleChunkChoice,
  usageChunkEvent,
} from "./translate/convert-to-openai-response.js";

/** What a stream needs to know before its first part arrives. */
export interface SseWriterOptions {
  /** The completion id every chunk carries. */
  readonly id: string;
  /** Unix seconds, the same in every chunk. */
  readonly created: number;
  /** Used as `model` when the backend reports none. */
  readonly requestedModel: string;
  /** Whether to send the final `choices: []` usage chunk. */
  readonly includeUsage: boolean;
}

/** The per-request state of one OpenAI stream; see createSseWriter. */
export interface SseWriter {
  /** Whether the 200 and the first event went out; after that, errors can only be events. */
  readonly started: boolean;
  /** Adds one part's events to what the next flush writes. */
  add(part: ChatStreamResponse): void;
  /**
   * Writes the events added since the last flush in one write; returns a promise to await only
   * when the socket's buffer is full.
   */
  flush(): Promise<void> | undefined;
  /** Ends a stream that finished: unfinished choices get a finish chunk, then usage, then [DONE]. */
  finish(): void;
  /** Ends a stream that failed after it began: one `data: {"error":…}` event and no [DONE]. */
  fail(body: OpenAIErrorBody): void;
}

const streamHeaders = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  connection: "keep-alive",
} as const;
const doneEvent = "data: [DONE]\n\n";

/**
 * Turns router stream parts into OpenAI's SSE chunks. Headers wait for the first part because only
 * it names the backend (`x-iir-backend`) and the model; until then a failure can still be a normal
 * error answer. Parts are written as they arrive, Nagle off: the route flushes after each batch
 * (all the parts one upstream read carried), so one read costs one write, not one per part, and the
 * writes of one turn of the event loop leave together at its end (turn-batched-writes.ts).
 */
export function createSseWriter(response: ServerResponse, options: SseWriterOptions): SseWriter {
  let prefix = "";
  let started = false;
  // Choice index → whether its finish chunk went out; a choice appears on its first part.
  const choices = new Map<number, boolean>();
  let usage: Usage | undefined;
  let pending = "";

  const start = (backend: string, model: string) => {
    started = true;
    prefix = chunkPrefix(options.id, options.created, model || options.requestedModel);
    if (backend !== "" && isHeaderSafe(backend)) response.setHeader("x-iir-backend", backend);
    response.socket?.setNoDelay(true);
    response.writeHead(200, streamHeaders);
  };
  const openChoice = (index: number): string => {
    if (choices.has(index)) return "";
    choices.set(index, false);
    return chunkEvent(prefix, roleChunkChoice(index));
  };

  return {
    get started() {
      return started;
    },
    add(part) {
      if (!started) start(part.backend, part.model);
      if (part.event.case === "usage") {
        usage = part.event.value;
        return;
      }
      const text = partEvent(prefix, part);
      if (text === undefined) return;
      pending += openChoice(part.choiceIndex) + text;
      if (part.event.case === "finish") choices.set(part.choiceIndex, true);
    },
    flush() {
      if (pending === "") return undefined;
      const text = pending;
      pending = "";
      if (response.socket !== null) holdWritesUntilTurnEnds(response.socket);
      return response.write(text) ? undefined : waitForDrain(response);
    },
    finish() {
      if (!started) start("", "");
      // A stream without a single delta still answers one (empty) choice, as OpenAI would.
      let text = pending + (choices.size === 0 ? openChoice(0) : "");
      pending = "";
      for (const [index, finished] of choices) {
        if (!finished) text += chunkEvent(prefix, { index, delta: {}, finish_reason: "stop" });
      }
      if (usage !== undefined && options.includeUsage) text += usageChunkEvent(prefix, usage);
      endAtTurnEnd(response, text + doneEvent);
    },
    fail(body) {
      // Events added before the failure still go out, then the error.
      const text = pending;
      pending = "";
      endAtTurnEnd(response, `${text}data: ${JSON.stringify(body)}\n\n`);
    },
  };
}
