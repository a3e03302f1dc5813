import type {
  ChatParams,
  ChatResponse,
  ChatStreamResponse,
  EmbedRequest,
  EmbedResponse,
} from "../../../gen/iir/inference/v1/inference_pb.js";

/** Where one attempt of a request goes: everything an adapter needs besides the request. */
export interface ChatTarget {
  /** The backend name clients see in `x-iir-backend`: a provider name or an agent id. */
  readonly backend: string;
  /** Provider type, e.g. "openai", "llm-d", "groq", "local". */
  readonly provider: string;
  /**
   * Base URL of the upstream API, e.g. `https://api.openai.com/v1` or `http://10.0.0.5:50061`. Never
   * quoted in an error: it may hold credentials and names an internal address; messages name `backend`.
   */
  readonly baseUrl: string;
  /** Secret for the upstream, read from the environment; never logged or echoed. */
  readonly apiKey: string | undefined;
  /** The model name the upstream knows. */
  readonly upstreamModel: string;
  /** Headers to send along to the upstream (the W3C trace context of the attempt's span); absent: none. */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * The request fields that change billing or routing at the provider (controlled-request-fields.ts)
   * which the model's registry entry lets through; absent or empty: none of them.
   */
  readonly allowedRequestFields?: readonly string[];
  /**
   * Where an operator fixes IIR's credentials for this upstream, for messages when the provider
   * refuses them: a variable name (`EXTERNAL_OPENAI_KEY`) or a registry field, never the secret.
   */
  readonly credentialSource?: string;
}

/**
 * One interface for every backend. Adapters do I/O only; wire-format translation lives in pure
 * functions beside them. Failures are thrown as ConnectError with a code from the architecture's
 * error table; an upstream's own error travels in an UpstreamError detail.
 */
export interface ChatAdapter {
  /** Answers a whole completion. */
  chat(params: ChatParams, target: ChatTarget, signal: AbortSignal): Promise<ChatResponse>;
  /** Streams a completion as small events; aborting the signal aborts the upstream request. */
  chatStream(params: ChatParams, target: ChatTarget, signal: AbortSignal): AsyncIterable<ChatStreamResponse>;
  /** Embeds `request.inputs` with `target.upstreamModel`; absent: the backend has no embeddings (Unimplemented). */
  embed?(request: EmbedRequest, target: ChatTarget, signal: AbortSignal): Promise<EmbedResponse>;
  /** Counts the input tokens `params` would take; absent: the backend cannot count (Unimplemented). */
  countTokens?(params: ChatParams, target: ChatTarget, signal: AbortSignal): Promise<number>;
  /**
   * The models the provider at `target.baseUrl` offers, from its model list API (`target.upstreamModel`
   * is empty); absent: the provider has no such list.
   */
  listModels?(target: ChatTarget, signal: AbortSignal): Promise<ProviderModel[]>;
}

/** One model a provider lists. */
export interface ProviderModel {
  /** The provider's own name for it (IIR lists it as `<provider>/<id>`). */
  readonly id: string;
  /** Unix seconds, when the provider says. */
  readonly created?: number;
  readonly ownedBy?: string;
  readonly contextLength?: number;
}
