import http2 from "node:http2";
import { create, fromBinary, toBinary, type DescMethod, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext, type MethodImplSpec } from "@connectrpc/connect";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { collectMethods, handlerContextFor } from "./in-process-transport.js";
import { grpcEnvelope, grpcEnvelopes } from "./grpc-envelope.js";
import { nextBatchOf } from "./async-iterables.js";
import { waitForDrain } from "./wait-for-drain.js";
import { createRequestSignal } from "./request-signal.js";
import { createHeaders } from "./plain-headers.js";
import { encodeChatStreamResponses } from "./chat-stream-codec.js";
import { decodeChatParamsRequest } from "./chat-request-codec.js";
import { ChatRequestSchema, ChatStreamRequestSchema, ChatStreamResponseSchema } from "../../gen/iir/inference/v1/inference_pb.js";

/** Handles a request itself and says so, or leaves it to Connect. */
export type GrpcFastPath = (request: http2.Http2ServerRequest, response: http2.Http2ServerResponse) => boolean;

// As Connect's gRPC handler: deadlines past this are refused.
const maximumTimeoutMs = 2 ** 31 - 1;

/**
 * A direct gRPC handler for the few methods on the hot path (the router's Chat and ChatStream).
 * Connect's handler runs each call through a pipeline of async iterables (split envelopes,
 * decompress, parse, serialize, join) and a linked-signal context per call, which cost the router
 * ~0.5 ms of CPU per call over h2c. This handles the common case — a unary or server-streaming call
 * in binary protobuf, uncompressed — with the same contract: the same implementations and context
 * (headers, trailers, deadline from `grpc-timeout`, a signal that aborts when the client cancels),
 * statuses and error details written by Connect's own `setTrailerStatus`. Anything else (JSON,
 * compression, gRPC-Web, the Connect protocol, other methods) returns false and goes to Connect.
 * A stream's messages go out in batches, all those one upstream read produced in one write.
 * (`@connectrpc/connect/protocol-grpc` is Connect's internal API; package.json pins Connect exactly.)
 */
export function createGrpcFastPath(options: { routes: (router: ConnectRouter) => void; methods: readonly DescMethod[]; readMaxBytes?: number }): GrpcFastPath {
  const implementations = collectMethods(options.routes);
  const byPath = new Map<string, MethodImplSpec>();
  for (const method of options.methods) {
    const spec = implementations.get(method);
    if (spec !== undefined && (spec.kind === "unary" || spec.kind === "server_streaming")) byPath.set(`/${method.parent.typeName}/${method.name}`, spec);
  }
  const readMaxBytes = options.readMaxBytes ?? 0xffffffff;
  return (request, response) => {
    if (request.method !== "POST") return false;
    const spec = byPath.get(request.url);
    if (spec === undefined) return false;
    const contentType = request.headers["content-type"];
    if (contentType !== "application/grpc" && contentType !== "application/grpc+proto") return false;
    const encoding = request.headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    void serve(spec, request, response, readMaxBytes);
    return true;
  };
}

async function serve(spec: MethodImplSpec, request: http2.Http2ServerRequest, response: http2.Http2ServerResponse, readMaxBytes: number): Promise<void> {
  const cancel = createRequestSignal();
  let done = false;
  // The client going away (RST_STREAM, a dropped connection) before the answer ended cancels the call.
  response.once("close", () => {
    if (!done) cancel.abort(new ConnectError("the client canceled the call", Code.Canceled));
  });
  const deadline = request.headers["grpc-timeout"];
  const timeout = parseTimeout(typeof deadline === "string" ? deadline : null, maximumTimeoutMs);
  const { context, end } = handlerContextFor(spec.method, cancel, timeout.timeoutMs, requestHeaders(request), "grpc");
  let headerSent = false;
  const sendHeader = () => {
    if (headerSent) return;
    headerSent = true;
    context.responseHeader.set("content-type", "application/grpc+proto");
    response.writeHead(200, headerObject(context.responseHeader));
  };
  try {
    if (timeout.error !== undefined) throw timeout.error;
    const input = await readMessage(request, spec.method, readMaxBytes);
    if (spec.kind === "unary") {
      const output = create(spec.method.output, (await spec.impl(input as never, context)) as never);
      sendHeader();
      response.write(grpcEnvelope(toBinary(spec.method.output, output)));
    } else if (spec.kind === "server_streaming") {
      // In batches: the messages one upstream read produced are written together.
      const outputs = spec.impl(input as never, context)[Symbol.asyncIterator]();
      let ended = false;
      try {
        for (;;) {
          const batch = await nextBatchOf(outputs);
          if (batch.done === true) {
            ended = true;
            break;
          }
          if (response.destroyed) break;
          sendHeader();
          // The batch in one write: one DATA frame, and one read on the client's side.
          const framed =
            spec.method.output.typeName === ChatStreamResponseSchema.typeName
              ? encodeChatStreamResponses(batch.value as MessageInitShape<typeof ChatStreamResponseSchema>[])
              : grpcEnvelopes(batch.value.map((item) => toBinary(spec.method.output, create(spec.method.output, item as never))));
          if (!response.write(framed)) await waitForDrain(response);
        }
      } finally {
        // Stopped early (the client went away, a write failed): the handler stops too.
        if (!ended) await outputs.return?.();
      }
    }
    finish(response, context, sendHeader, undefined);
  } catch (error) {
    if (!response.destroyed) finish(response, context, sendHeader, error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal, undefined, undefined, error));
  } finally {
    done = true;
    // Ends a deadline's timer (a call without one has nothing to end).
    end();
  }
}

/** Ends the answer: the response headers if none went out yet, then the trailers with the status. */
function finish(response: http2.Http2ServerResponse, context: HandlerContext, sendHeader: () => void, error: ConnectError | undefined): void {
  if (response.destroyed) return;
  sendHeader();
  const trailer = createHeaders(context.responseTrailer);
  if (error === undefined) trailer.set("grpc-status", "0");
  else setTrailerStatus(trailer, error);
  response.addTrailers(headerObject(trailer));
  response.end();
}

/** The request's one message (unary and server-streaming calls send exactly one). */
function readMessage(request: http2.Http2ServerRequest, method: DescMethod, readMaxBytes: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (error: () => ConnectError) => {
      if (settled) return;
      settled = true;
      reject(error());
    };
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > readMaxBytes + 5) {
        fail(() => new ConnectError(`message size is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted));
        request.removeAllListeners("data");
        request.resume();
        return;
      }
      chunks.push(chunk);
    });
    request.once("error", (error) => fail(() => ConnectError.from(error, Code.Canceled)));
    // Closed before the whole message came: the client went away. (Errors are built only when they
    // are thrown: capturing a stack on every call's normal close cost more than the rest of the read.)
    request.once("close", () => fail(() => new ConnectError("the client canceled the call", Code.Canceled)));
    request.once("end", () => {
      if (settled) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      if (body.length < 5) return fail(() => new ConnectError("protocol error: missing request message", Code.Unimplemented));
      const length = body.readUInt32BE(1);
      if (body.length !== 5 + length) return fail(() => new ConnectError("protocol error: the request is not one whole message", Code.InvalidArgument));
      if ((body[0]! & 1) !== 0) return fail(() => new ConnectError("protocol error: received compressed message without grpc-encoding", Code.Internal));
      let message: unknown;
      try {
        message = decodeInput(method, body.subarray(5));
      } catch (error) {
        return fail(() => new ConnectError(`parse binary: ${error instanceof Error ? error.message : String(error)}`, Code.InvalidArgument));
      }
      settled = true;
      resolve(message);
    });
  });
}

/** A request message: Chat's and ChatStream's by hand (chat-request-codec.ts), others with protobuf-es. */
function decodeInput(method: DescMethod, bytes: Uint8Array): unknown {
  switch (method.input.typeName) {
    case ChatRequestSchema.typeName:
      return decodeChatParamsRequest(ChatRequestSchema, bytes);
    case ChatStreamRequestSchema.typeName:
      return decodeChatParamsRequest(ChatStreamRequestSchema, bytes);
    default:
      return fromBinary(method.input, bytes);
  }
}

/** The request's headers less the pseudo-headers, as name/value pairs: the context builds its Headers from them once. */
function requestHeaders(request: http2.Http2ServerRequest): [string, string][] {
  const pairs: [string, string][] = [];
  const raw = request.rawHeaders;
  for (let index = 0; index + 1 < raw.length; index += 2) {
    const name = raw[index]!;
    if (!name.startsWith(":")) pairs.push([name, raw[index + 1]!]);
  }
  return pairs;
}

function headerObject(headers: Headers): Record<string, string | string[]> {
  const object: Record<string, string | string[]> = {};
  headers.forEach((value, name) => {
    const present = object[name];
    object[name] = present === undefined ? value : Array.isArray(present) ? [...present, value] : [present, value];
  });
  return object;
}
