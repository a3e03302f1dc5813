import type { ChatParams, ChatResponse, ChatStreamResponse } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { Logger } from "../../../common/logger.js";
import type { ChatAdapter, ChatTarget } from "../adapter.js";
import { chatParamsToOpenAIRequest } from "./convert-to-openai-request.js";
import { Http1Pool } from "./http1-pool.js";
import { StreamCall } from "./stream-call.js";
import { UnaryCall } from "./upstream-call.js";

/** Settings of the OpenAI-compatible adapter. */
export interface OpenAICompatibleAdapterOptions {
  /** Longest wait for the upstream's answer headers, and between two streamed chunks. */
  readonly timeoutMs: number;
  /** Connections kept per upstream host (default 256). */
  readonly maxSockets?: number;
  /** Told (debug) which controlled request fields were dropped; absent: nobody is. */
  readonly logger?: Pick<Logger, "debug">;
}

/**
 * The adapter for every server that speaks OpenAI's chat completions API: OpenAI, llm-d, OpenRouter,
 * Groq, Venice. Connections are kept alive and pooled per host (http1-pool.ts); aborting the signal
 * aborts the upstream request; failures become Connect codes with the provider's own error as a detail.
 * Request fields that change billing or routing at the provider go only where the registry allows
 * them (controlled-request-fields.ts).
 */
export function createOpenAICompatibleAdapter(options: OpenAICompatibleAdapterOptions): ChatAdapter {
  // Every connection stays pooled until idle for the server's keep-alive time (or 4 s). With at most
  // 64 kept idle, as before, more than 64 concurrent requests closed and reopened connections all
  // the time: at 200 client connections that cost `iir all` a fifth of its streamed throughput.
  const pool = new Http1Pool({ timeoutMs: options.timeoutMs, maxSockets: options.maxSockets ?? 256 });
  const bodyOf = (params: ChatParams, target: ChatTarget, stream: boolean) => {
    const { request, droppedFields } = chatParamsToOpenAIRequest(params, target, stream);
    // Not an error: the request goes ahead on the terms the registry chose.
    if (droppedFields.length > 0) {
      options.logger?.debug("request fields dropped: the model's registry entry does not allow them", { backend: target.backend, model: target.upstreamModel, fields: droppedFields });
    }
    return JSON.stringify(request);
  };
  return {
    chat(params, target, signal): Promise<ChatResponse> {
      return new Promise<ChatResponse>((resolve, reject) => {
        new UnaryCall(pool, target, signal, options.timeoutMs, resolve, reject).start(bodyOf(params, target, false));
      });
    },
    chatStream(params, target, signal): AsyncIterable<ChatStreamResponse> {
      return {
        [Symbol.asyncIterator]: () => new StreamCall(pool, target, signal, options.timeoutMs, () => bodyOf(params, target, true)),
      };
    },
  };
}
