import type { ChatParams, ChatResponse, ChatStreamResponse } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatAdapter } from "../adapter.js";
import { StreamCall } from "./stream-call.js";
import { UnaryCall } from "./upstream-call.js";
import type { UpstreamClient } from "./upstream-client.js";
import type { UpstreamProtocol } from "./upstream-protocol.js";

/**
 * An adapter's chat and chatStream for a provider that is only its wire format: each call goes
 * through the shared upstream calls with the protocol `protocolOf` picks for the request (one per
 * provider, or another for a raw prompt).
 */
export function chatThroughProtocol(client: UpstreamClient, timeoutMs: number, protocolOf: (params: ChatParams) => UpstreamProtocol): Pick<ChatAdapter, "chat" | "chatStream"> {
  return {
    chat(params, target, signal): Promise<ChatResponse> {
      return new Promise<ChatResponse>((resolve, reject) => {
        new UnaryCall({ client, protocol: protocolOf(params), params, target, signal, timeoutMs }, resolve, reject).start(false);
      });
    },
    chatStream(params, target, signal): AsyncIterable<ChatStreamResponse> {
      return { [Symbol.asyncIterator]: () => new StreamCall({ client, protocol: protocolOf(params), params, target, signal, timeoutMs }) };
    },
  };
}
