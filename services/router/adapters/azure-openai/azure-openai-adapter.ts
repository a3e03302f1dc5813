import type { Logger } from "../../../common/logger.js";
import type { ChatAdapter, ChatTarget } from "../adapter.js";
import { openAIProtocol } from "../openai-compatible/openai-compatible-adapter.js";
import { embedRequestToOpenAI, embedResponseFromOpenAI } from "../openai-compatible/openai-embeddings.js";
import { createUpstreamClient, type UpstreamClient, type UpstreamRequest } from "../upstream/upstream-client.js";
import type { UpstreamProtocol } from "../upstream/upstream-protocol.js";
import { upstreamJsonCall } from "../upstream/upstream-json-call.js";
import { endpointOf, jsonPost } from "../upstream/upstream-request.js";
import { chatThroughProtocol } from "../upstream/protocol-chat.js";

/** Settings of the Azure OpenAI adapter. */
export interface AzureOpenAIAdapterOptions {
  /** Longest wait for the upstream's answer headers, and between two streamed chunks. */
  readonly timeoutMs: number;
  /** The `api-version` query parameter (AZURE_OPENAI_API_VERSION), e.g. `2024-10-21`. */
  readonly apiVersion: string;
  /** The router's upstream HTTP client; absent: the adapter opens its own with default settings. */
  readonly client?: UpstreamClient;
  readonly logger?: Pick<Logger, "debug">;
}

/**
 * Where Azure puts an OpenAI call: `{base}/deployments/{deployment}{suffix}?api-version=…` (the base
 * being `https://<resource>.openai.azure.com/openai`), the deployment being the model name after
 * `azure/`. An `api-version` already in the base URL's query is kept.
 */
export function azureEndpointPath(target: Pick<ChatTarget, "baseUrl" | "upstreamModel">, suffix: string, apiVersion: string): { origin: string; path: string } {
  const endpoint = endpointOf(target.baseUrl, `/deployments/${encodeURIComponent(target.upstreamModel)}${suffix}`);
  if (/[?&]api-version=/.test(endpoint.path)) return endpoint;
  const separator = endpoint.path.includes("?") ? "&" : "?";
  return { origin: endpoint.origin, path: `${endpoint.path}${separator}api-version=${encodeURIComponent(apiVersion)}` };
}

/**
 * Azure's key goes as `api-key`, not as a Bearer token; without a key the request keeps what the
 * OpenAI request had (the base URL's user and password as Basic).
 */
export function withAzureKey(headers: Record<string, string>, apiKey: string | undefined): Record<string, string> {
  if (apiKey === undefined) return headers;
  const result: Record<string, string> = {};
  for (const name in headers) if (name.toLowerCase() !== "authorization") result[name] = headers[name]!;
  result["api-key"] = apiKey;
  return result;
}

/**
 * OpenAI's chat completions wire format as Azure OpenAI serves it: the OpenAI-compatible protocol's
 * request, response and stream translators unchanged, the request moved to Azure's URL and key
 * header. The body's `model` (the deployment) is ignored by Azure, which reads the URL.
 */
export function azureOpenAIProtocol(apiVersion: string, logger?: Pick<Logger, "debug">): UpstreamProtocol {
  const openAI = openAIProtocol(logger);
  return {
    ...openAI,
    request(params, target, stream): UpstreamRequest {
      const request = openAI.request(params, target, stream);
      return { ...request, ...azureEndpointPath(target, "/chat/completions", apiVersion), headers: withAzureKey(request.headers, target.apiKey) };
    },
  };
}

/**
 * The adapter for `azure/<deployment>`: the OpenAI-compatible adapter's translators on Azure's URLs,
 * for chat and for embeddings (`/deployments/{deployment}/embeddings`).
 */
export function createAzureOpenAIAdapter(options: AzureOpenAIAdapterOptions): ChatAdapter {
  const client = options.client ?? createUpstreamClient({ timeoutMs: options.timeoutMs });
  const protocol = azureOpenAIProtocol(options.apiVersion, options.logger);
  return {
    ...chatThroughProtocol(client, options.timeoutMs, () => protocol),
    embed(request, target, signal) {
      const endpoint = { ...azureEndpointPath(target, "/embeddings", options.apiVersion), basicAuth: undefined };
      const post = jsonPost(endpoint, target, JSON.stringify(embedRequestToOpenAI(request, target)), target.apiKey === undefined ? undefined : { "api-key": target.apiKey }, "application/json");
      const parse = (json: unknown) => embedResponseFromOpenAI(json, target, request.inputs.length);
      return upstreamJsonCall({ client, timeoutMs: options.timeoutMs, target, signal, request: post, parse, errorResponse: protocol.errorResponse });
    },
  };
}
