import { Code, type ConnectRouter } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";

// Connect's words for a request body protobuf-es could not read (protocol/serialization.js).
const decodeFailurePrefix = "parse binary:";

/**
 * Makes the gRPC calls of a router's routes answer InvalidArgument, not Internal, when their request
 * cannot be decoded: nested past the recursion limit, truncated, not UTF-8, not protobuf at all.
 * Connect's handler reports every such body as Internal ("parse binary: …", as grpc-go does), and
 * offers no hook before the implementation runs; an interceptor never sees a unary request that
 * failed to decode. So each method handler is wrapped, and a gRPC answer whose trailer carries that
 * failure gets the client's code instead. By then the trailer is written: Connect resolves a handler
 * only once the first response bytes exist, and a call that failed to decode has none.
 * gRPC-Web and the Connect protocol write their status into the body and keep Connect's code.
 *
 * Call it from a server's `routes` after every service is registered:
 * `routes: (router) => { register(router); answerUndecodableAsInvalidArgument(router); }`.
 */
export function answerUndecodableAsInvalidArgument(router: ConnectRouter): void {
  const handlers = router.handlers as UniversalHandler[];
  for (let index = 0; index < handlers.length; index++) {
    const handler = handlers[index]!;
    const wrapped = async (request: UniversalServerRequest) => {
      const response = await handler(request);
      const trailer = response.trailer;
      if (trailer !== undefined && trailer.get("grpc-status") === String(Code.Internal) && grpcMessage(trailer).startsWith(decodeFailurePrefix)) {
        trailer.set("grpc-status", String(Code.InvalidArgument));
      }
      return response;
    };
    // The method, service, path and protocols Connect's adapter routes by stay as they were.
    handlers[index] = Object.assign(wrapped, handler);
  }
}

function grpcMessage(trailer: Headers): string {
  const message = trailer.get("grpc-message") ?? "";
  try {
    return decodeURIComponent(message);
  } catch {
    return message;
  }
}
