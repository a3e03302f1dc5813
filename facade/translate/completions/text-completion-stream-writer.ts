import type { ServerResponse } from "node:http";
import type { ChatStreamResponse, Usage } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { OpenAIErrorBody } from "../../../services/common/openai-types.js";
import { endAtTurnEnd, holdWritesUntilTurnEnds } from "../../../services/common/turn-batched-writes.js";
import { waitForDrain } from "../../../services/common/wait-for-drain.js";
import { isHeaderSafe } from "../../request-id.js";
import type { SseWriter, SseWriterOptions } from "../../sse-writer.js";
import { textChunkEvent, textChunkPrefix, textPartEvent, textUsageChunkEvent } from "./convert-to-openai-completion.js";

const streamHeaders = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  connection: "keep-alive",
} as const;
const doneEvent = "data: [DONE]\n\n";

/**
 * Router stream parts → OpenAI's `text_completion` SSE chunks, as the chat stream writer does for
 * chat (same contract: headers wait for the first part, one write per batch, an error after the
 * start is one `data: {"error":…}` event). Unlike chat, no role chunk opens a choice.
 */
export function createTextCompletionStreamWriter(response: ServerResponse, options: SseWriterOptions): SseWriter {
  let prefix = "";
  let started = false;
  // Choice index → whether its finish chunk went out.
  const choices = new Map<number, boolean>();
  let usage: Usage | undefined;
  let pending = "";

  const start = (backend: string, model: string) => {
    started = true;
    prefix = textChunkPrefix(options.id, options.created, model || options.requestedModel);
    if (backend !== "" && isHeaderSafe(backend)) response.setHeader("x-iir-backend", backend);
    response.socket?.setNoDelay(true);
    response.writeHead(200, streamHeaders);
  };

  return {
    get started() {
      return started;
    },
    add(part: ChatStreamResponse) {
      if (!started) start(part.backend, part.model);
      if (part.event.case === "usage") {
        usage = part.event.value;
        return;
      }
      const text = textPartEvent(prefix, part);
      if (text === undefined) return;
      pending += text;
      choices.set(part.choiceIndex, part.event.case === "finish" || choices.get(part.choiceIndex) === true);
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
      let text = pending;
      pending = "";
      if (choices.size === 0) choices.set(0, false);
      for (const [index, finished] of choices) if (!finished) text += textChunkEvent(prefix, index, "", "stop");
      if (usage !== undefined && options.includeUsage) text += textUsageChunkEvent(prefix, usage);
      endAtTurnEnd(response, text + doneEvent);
    },
    fail(body: OpenAIErrorBody) {
      const text = pending;
      pending = "";
      endAtTurnEnd(response, `${text}data: ${JSON.stringify(body)}\n\n`);
    },
  };
}
