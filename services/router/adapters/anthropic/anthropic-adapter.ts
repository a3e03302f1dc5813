import { Code, ConnectError } from "@connectrpc/connect";
import type { ChatParams } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { Logger } from "../../../common/logger.js";
import type { ChatAdapter, ChatTarget, ProviderModel } from "../adapter.js";
import { upstreamFailure, type UpstreamCallContext } from "../upstream/upstream-call.js";
import { createUpstreamClient, type UpstreamClient, type UpstreamRequest } from "../upstream/upstream-client.js";
import { isRecord } from "../openai-compatible/json-guards.js";
import { upstreamGet } from "../upstream/upstream-get.js";
import type { UpstreamProtocol } from "../upstream/upstream-protocol.js";
import { endpointOf, jsonPost } from "../upstream/upstream-request.js";
import { upstreamErrorContext } from "../upstream/upstream-secrets.js";
import { connectErrorFromAnthropicResponse } from "./anthropic-error.js";
import { JsonCall } from "./anthropic-json-call.js";
import { modelPageFromAnthropic, modelsPath } from "./anthropic-models.js";
import { createAnthropicStreamState } from "./anthropic-stream-state.js";
import { chatResponseFromAnthropic } from "./convert-from-anthropic-response.js";
import { chatParamsToAnthropicCountTokensRequest, chatParamsToAnthropicRequest } from "./convert-to-anthropic-request.js";
import { chatThroughProtocol } from "../upstream/protocol-chat.js";

/** Settings of the Anthropic adapter. */
export interface AnthropicAdapterOptions {
  /** Longest wait for the upstream's answer headers, and between two streamed events. */
  readonly timeoutMs: number;
  /** The `anthropic-version` header (ANTHROPIC_VERSION); default 2023-06-01. */
  readonly version?: string;
  /** The router's upstream HTTP client; absent: the adapter opens its own with default settings. */
  readonly client?: UpstreamClient;
  /** Told (debug) which controlled request fields were dropped; absent: nobody is. */
  readonly logger?: Pick<Logger, "debug">;
}

export const defaultAnthropicVersion = "2023-06-01";
const streamAccept = "application/json, text/event-stream";
// Pages of the model list read at most: Anthropic lists tens of models, 1000 a page.
const maximumModelPages = 5;

/**
 * Where `path` (`/messages`) is under a base URL: the Anthropic SDK's convention is a base URL without
 * `/v1` (https://api.anthropic.com); one that already ends in `/v1` (as OpenAI base URLs do) is taken as it is.
 */
function anthropicSuffix(baseUrl: string, path: string): string {
  return /\/v1\/*$/.test(new URL(baseUrl).pathname) ? path : `/v1${path}`;
}

function anthropicEndpoint(baseUrl: string, path: string) {
  return endpointOf(baseUrl, anthropicSuffix(baseUrl, path));
}

/** Anthropic's headers: the key as `x-api-key` (never `Authorization`), and the API version. */
function anthropicHeaders(target: ChatTarget, version: string): Record<string, string> {
  return target.apiKey === undefined ? { "anthropic-version": version } : { "x-api-key": target.apiKey, "anthropic-version": version };
}

/** The Messages API wire format, for the shared upstream calls. */
export function anthropicProtocol(version: string = defaultAnthropicVersion, logger?: Pick<Logger, "debug">): UpstreamProtocol {
  return {
    request(params, target, stream): UpstreamRequest {
      const { request, droppedFields } = chatParamsToAnthropicRequest(params, target, stream, version);
      // Not an error: the request goes ahead on the terms the registry chose.
      if (droppedFields.length > 0) {
        logger?.debug("request fields dropped: the model's registry entry does not allow them", { backend: target.backend, model: target.upstreamModel, fields: droppedFields });
      }
      return post(anthropicEndpoint(target.baseUrl, "/messages"), target, JSON.stringify(request), version, streamAccept);
    },
    response: chatResponseFromAnthropic,
    streamState: createAnthropicStreamState,
    errorResponse: (status, body, _headers, target) => connectErrorFromAnthropicResponse(status, body, upstreamErrorContext(target)),
  };
}

function post(endpoint: ReturnType<typeof endpointOf>, target: ChatTarget, body: string, version: string, accept: string): UpstreamRequest {
  // Without a key the base URL's user and password go as Basic authorization (jsonPost's rule).
  const request = jsonPost(endpoint, target, body, target.apiKey === undefined ? undefined : anthropicHeaders(target, version), accept);
  request.headers["anthropic-version"] = version;
  return request;
}

/**
 * The adapter for Anthropic's Messages API (`anthropic/<model>`, or registry entries of provider
 * `anthropic`). HTTP goes through the shared upstream client; aborting the signal aborts the upstream
 * request; failures become Connect codes with Anthropic's own error as a detail. Counts tokens with
 * `/v1/messages/count_tokens` and lists models with `/v1/models`.
 */
export function createAnthropicAdapter(options: AnthropicAdapterOptions): ChatAdapter {
  const client = options.client ?? createUpstreamClient({ timeoutMs: options.timeoutMs });
  const version = options.version ?? defaultAnthropicVersion;
  const protocol = anthropicProtocol(version, options.logger);
  const countProtocol: UpstreamProtocol = {
    ...protocol,
    request: (params, target) => post(anthropicEndpoint(target.baseUrl, "/messages/count_tokens"), target, JSON.stringify(chatParamsToAnthropicCountTokensRequest(params, target)), version, "application/json"),
  };
  const contextOf = (params: ChatParams, target: ChatTarget, signal: AbortSignal, callProtocol = protocol): UpstreamCallContext => ({ client, protocol: callProtocol, params, target, signal, timeoutMs: options.timeoutMs });
  return {
    ...chatThroughProtocol(client, options.timeoutMs, () => protocol),
    async countTokens(params, target, signal): Promise<number> {
      const json = await new Promise<unknown>((resolve, reject) => {
        new JsonCall(contextOf(params, target, signal, countProtocol), resolve, reject).start(false);
      });
      return inputTokensOf(json, target);
    },
    async listModels(target, signal): Promise<ProviderModel[]> {
      const models: ProviderModel[] = [];
      let after: string | undefined;
      for (let page = 0; page < maximumModelPages; page++) {
        let answer;
        try {
          answer = await upstreamGet(client, target, anthropicSuffix(target.baseUrl, modelsPath(after)), anthropicHeaders(target, version), signal);
        } catch (error) {
          throw upstreamFailure(error, target, signal);
        }
        if (answer.status < 200 || answer.status >= 300) throw connectErrorFromAnthropicResponse(answer.status, answer.body, upstreamErrorContext(target));
        const parsed = modelPageFromAnthropic(answer.body);
        models.push(...parsed.models);
        if (!parsed.hasMore || parsed.lastId === undefined) break;
        after = parsed.lastId;
      }
      return models;
    },
  };
}

/** `{"input_tokens": N}`; anything else is Unavailable. */
function inputTokensOf(json: unknown, target: ChatTarget): number {
  const count = isRecord(json) ? json.input_tokens : undefined;
  if (typeof count !== "number" || !Number.isFinite(count)) throw new ConnectError(`${target.provider} upstream returned malformed response: count_tokens gave no input_tokens`, Code.Unavailable);
  return Math.trunc(count);
}
