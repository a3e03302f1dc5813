import { Code, ConnectError } from "@connectrpc/connect";
import type { ChatAdapter, ChatTarget, ProviderModel } from "../adapter.js";
import { createUpstreamClient, type UpstreamClient, type UpstreamRequest } from "../upstream/upstream-client.js";
import { upstreamGet } from "../upstream/upstream-get.js";
import { upstreamJsonCall } from "../upstream/upstream-json-call.js";
import type { UpstreamProtocol } from "../upstream/upstream-protocol.js";
import { endpointOf, jsonPost } from "../upstream/upstream-request.js";
import { upstreamErrorContext } from "../upstream/upstream-secrets.js";
import { embedRequestToGoogle, embedResponseFromGoogle, tokenCountFromGoogle } from "./convert-google-embeddings.js";
import { googleModelName, modelsPageFromGoogle } from "./convert-google-models.js";
import { chatResponseFromGoogle } from "./convert-from-google-response.js";
import { chatParamsToGoogleRequest } from "./convert-to-google-request.js";
import { connectErrorFromGoogleResponse } from "./google-error.js";
import { createGoogleStreamState } from "./google-stream-state.js";
import { chatThroughProtocol } from "../upstream/protocol-chat.js";

/** Settings of the Google (Gemini API) adapter. */
export interface GoogleAdapterOptions {
  /** Longest wait for the upstream's answer headers, and between two streamed chunks. */
  readonly timeoutMs: number;
  /** The router's upstream HTTP client; absent: the adapter opens its own with default settings. */
  readonly client?: UpstreamClient;
}

// The model list is paged; a provider that never stops paging stops here.
const maximumModelPages = 50;

/** The key goes in Google's header, never in the URL (`?key=` would reach logs and proxies). */
function authOf(target: ChatTarget): Record<string, string> | undefined {
  return target.apiKey === undefined ? undefined : { "x-goog-api-key": target.apiKey };
}

/** `{base}/models/{model}{method}`, with `query` added to whatever query the base URL has. */
function modelRequest(target: ChatTarget, method: string, body: unknown, accept: string, query?: string): UpstreamRequest {
  const endpoint = endpointOf(target.baseUrl, `/${modelPath(target.upstreamModel)}:${method}`);
  const path = query === undefined ? endpoint.path : `${endpoint.path}${endpoint.path.includes("?") ? "&" : "?"}${query}`;
  return jsonPost({ ...endpoint, path }, target, JSON.stringify(body), authOf(target), accept);
}

/** The model's resource name as URL path segments; a name that would leave `models/` (`..`) is refused. */
function modelPath(model: string): string {
  const segments = googleModelName(model).split("/");
  if (segments.some((segment) => segment === "" || segment === "." || segment === "..")) throw new ConnectError(`'${model}' is not a Gemini model name`, Code.InvalidArgument);
  return segments.map(encodeURIComponent).join("/");
}

/** The Gemini API's generateContent wire format, for the shared upstream calls. */
export function googleProtocol(): UpstreamProtocol {
  return {
    request(params, target, stream) {
      const body = chatParamsToGoogleRequest(params, target.upstreamModel);
      return stream ? modelRequest(target, "streamGenerateContent", body, "text/event-stream", "alt=sse") : modelRequest(target, "generateContent", body, "application/json");
    },
    response: chatResponseFromGoogle,
    streamState: createGoogleStreamState,
    errorResponse: (status, body, _headers, target) => connectErrorFromGoogleResponse(status, body, upstreamErrorContext(target)),
  };
}

/**
 * The adapter for Google's Gemini API (`google/<model>`): chat and streams through the shared
 * upstream calls, plus embeddings (`batchEmbedContents`), token counts (`countTokens`) and the
 * provider's model list (`GET models`, every page).
 */
export function createGoogleAdapter(options: GoogleAdapterOptions): ChatAdapter {
  const client = options.client ?? createUpstreamClient({ timeoutMs: options.timeoutMs });
  const protocol = googleProtocol();
  const timeoutMs = options.timeoutMs;
  return {
    ...chatThroughProtocol(client, timeoutMs, () => protocol),
    embed(request, target, signal) {
      const body = embedRequestToGoogle(request, target.upstreamModel);
      return upstreamJsonCall({ client, timeoutMs, target, signal, errorResponse: protocol.errorResponse, request: modelRequest(target, "batchEmbedContents", body, "application/json"), parse: (json) => embedResponseFromGoogle(json, target, request.inputs.length) });
    },
    countTokens(params, target, signal) {
      // The whole request counts (system instruction, tools), not only the turns.
      const generateContentRequest = { model: googleModelName(target.upstreamModel), ...chatParamsToGoogleRequest(params, target.upstreamModel) };
      return upstreamJsonCall({ client, timeoutMs, target, signal, errorResponse: protocol.errorResponse, params, request: modelRequest(target, "countTokens", { generateContentRequest }, "application/json"), parse: (json) => tokenCountFromGoogle(json, target) });
    },
    async listModels(target, signal): Promise<ProviderModel[]> {
      const models: ProviderModel[] = [];
      let pageToken = "";
      for (let page = 0; page < maximumModelPages; page++) {
        const query = pageToken === "" ? "?pageSize=1000" : `?pageSize=1000&pageToken=${encodeURIComponent(pageToken)}`;
        const answer = await upstreamGet(client, target, `/models${query}`, authOf(target), signal);
        if (answer.status < 200 || answer.status > 299) throw new Error(`${target.provider} answered its model list with HTTP ${answer.status}`);
        let json: unknown;
        try {
          json = JSON.parse(answer.body);
        } catch {
          throw new Error(`${target.provider}'s model list is not JSON`);
        }
        const result = modelsPageFromGoogle(json);
        models.push(...result.models);
        pageToken = result.nextPageToken;
        if (pageToken === "") break;
      }
      return models;
    },
  };
}
