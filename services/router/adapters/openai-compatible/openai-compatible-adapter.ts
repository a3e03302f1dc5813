import type { Logger } from "../../../common/logger.js";
import type { ChatAdapter } from "../adapter.js";
import { createUpstreamClient, type UpstreamClient } from "../upstream/upstream-client.js";
import type { UpstreamProtocol } from "../upstream/upstream-protocol.js";
import { endpointOf, jsonPost } from "../upstream/upstream-request.js";
import { upstreamErrorContext } from "../upstream/upstream-secrets.js";
import { chatResponseFromOpenAI, createOpenAIStreamState } from "./convert-from-openai-response.js";
import { chatParamsToOpenAIRequest } from "./convert-to-openai-request.js";
import { connectErrorFromUpstreamResponse } from "./openai-error.js";
import { createOpenAIEmbedder } from "./openai-embeddings.js";
import { openAICompletionsProtocol } from "./openai-completions.js";
import { listOpenAIModels } from "./openai-models.js";
import { chatThroughProtocol } from "../upstream/protocol-chat.js";

/** Settings of the OpenAI-compatible adapter. */
export interface OpenAICompatibleAdapterOptions {
  /** Longest wait for the upstream's answer headers, and between two streamed chunks. */
  readonly timeoutMs: number;
  /** The router's upstream HTTP client; absent: the adapter opens its own with default settings. */
  readonly client?: UpstreamClient;
  /** Told (debug) which controlled request fields were dropped; absent: nobody is. */
  readonly logger?: Pick<Logger, "debug">;
}

const streamAccept = "application/json, text/event-stream";

/**
 * OpenAI's chat completions wire format, for the shared upstream calls. Request fields that change
 * billing or routing at the provider go only where the registry allows them (controlled-request-fields.ts).
 */
export function openAIProtocol(logger?: Pick<Logger, "debug">): UpstreamProtocol {
  return {
    request(params, target, stream) {
      const { request, droppedFields } = chatParamsToOpenAIRequest(params, target, stream);
      // Not an error: the request goes ahead on the terms the registry chose.
      if (droppedFields.length > 0) {
        logger?.debug("request fields dropped: the model's registry entry does not allow them", { backend: target.backend, model: target.upstreamModel, fields: droppedFields });
      }
      const auth = target.apiKey === undefined ? undefined : { authorization: `Bearer ${target.apiKey}` };
      return jsonPost(endpointOf(target.baseUrl, "/chat/completions"), target, JSON.stringify(request), auth, streamAccept);
    },
    response: chatResponseFromOpenAI,
    streamState: createOpenAIStreamState,
    errorResponse: (status, body, _headers, target) => connectErrorFromUpstreamResponse(status, body, upstreamErrorContext(target)),
  };
}

/**
 * The adapter for every server that speaks OpenAI's chat completions API: OpenAI, llm-d, OpenRouter,
 * Groq, Venice. HTTP goes through the shared upstream client (undici); aborting the signal aborts the
 * upstream request; failures become Connect codes with the provider's own error as a detail.
 */
export function createOpenAICompatibleAdapter(options: OpenAICompatibleAdapterOptions): ChatAdapter {
  const client = options.client ?? createUpstreamClient({ timeoutMs: options.timeoutMs });
  const protocol = openAIProtocol(options.logger);
  // A raw prompt (legacy completions) goes to the upstream's own /completions, not through a chat template.
  const completions = openAICompletionsProtocol(options.logger);
  return {
    ...chatThroughProtocol(client, options.timeoutMs, (params) => (params.prompt === undefined ? protocol : completions)),
    embed: createOpenAIEmbedder({ client, timeoutMs: options.timeoutMs }),
    listModels: (target, signal) => listOpenAIModels(client, target, signal),
  };
}
