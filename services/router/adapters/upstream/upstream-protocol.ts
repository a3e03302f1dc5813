import type { ConnectError } from "@connectrpc/connect";
import type { ChatParams, ChatResponse, ChatStreamResponse } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatTarget } from "../adapter.js";
import type { UpstreamHeaders, UpstreamRequest } from "./upstream-client.js";
import type { ServerSentEvent } from "./sse-parser.js";

/**
 * What a provider's wire format adds to the shared upstream calls (upstream-call.ts, stream-call.ts):
 * its translators and its stream state. The calls do the HTTP, the SSE decoding, the reading of
 * error bodies, limits, timeouts and cancellation for every provider alike.
 */
export interface UpstreamProtocol {
  /** The HTTP request for a chat completion, streamed or not. */
  request(params: ChatParams, target: ChatTarget, stream: boolean): UpstreamRequest;
  /** A whole answer's JSON body as the contract's response; throws a ConnectError for one that is not. */
  response(json: unknown, target: ChatTarget): ChatResponse;
  /** The translator of one streamed answer's events. */
  streamState(target: ChatTarget): UpstreamStreamState;
  /** A non-2xx answer as the Connect error clients get; `body` is at most 64 KiB of it. */
  errorResponse(status: number, body: string, headers: UpstreamHeaders, target: ChatTarget): ConnectError;
}

/** What one streamed answer has seen so far. */
export interface UpstreamStreamState {
  /** The contract's parts for one server-sent event; throws a ConnectError for an error event or a malformed one. */
  partsFromEvent(event: ServerSentEvent): ChatStreamResponse[];
  /** Whether the answer is complete (the provider's finish event arrived), whatever follows. */
  readonly finished: boolean;
}
