import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Transport } from "@connectrpc/connect";
import { InferenceService, type ChatRequestSchema, type ChatResponse, type ChatStreamRequestSchema, type ChatStreamResponse } from "../gen/iir/inference/v1/inference_pb.js";

/** What the router answered: its message(s), and the response headers and trailers beside them. */
export interface RouterAnswer<T> {
  readonly header: Headers;
  /** Complete once the message (or the stream of them) was read. */
  readonly trailer: Headers;
  readonly message: T;
}

type ChatRequestInit = MessageInitShape<typeof ChatRequestSchema>;
type ChatStreamRequestInit = MessageInitShape<typeof ChatStreamRequestSchema>;

/** The router's Chat and ChatStream as the chat route calls them. */
export interface RouterChat {
  chat(request: ChatRequestInit, signal: AbortSignal, headers: Record<string, string>): Promise<RouterAnswer<ChatResponse>>;
  /** Resolves once the router answered (its headers, or its error); the parts follow in `message`. */
  chatStream(request: ChatStreamRequestInit, signal: AbortSignal, headers: Record<string, string>): Promise<RouterAnswer<AsyncIterable<ChatStreamResponse>>>;
}

/**
 * Chat and ChatStream called on the transport itself, in-process or over h2c. Connect's generated
 * client does the same plus, for a stream, relaying every message through one more (down-levelled)
 * async generator, which on the hot path cost more than the rest of the in-process relay.
 */
export function createRouterChat(transport: Transport): RouterChat {
  const chat = InferenceService.method.chat;
  const chatStream = InferenceService.method.chatStream;
  return {
    chat: (request, signal, headers) => transport.unary(chat, signal, undefined, headers, request, undefined),
    chatStream: (request, signal, headers) => transport.stream(chatStream, signal, undefined, headers, single(request), undefined),
  };
}

async function* single<T>(value: T): AsyncIterable<T> {
  yield value;
}
