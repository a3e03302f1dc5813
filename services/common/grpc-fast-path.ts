import http2 from "node:http2";
import { create, fromBinary, toBinary, type DescMethod, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext, type MethodImplSpec } from "@connectrpc/connect";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { collectMethods, handlerContextFor, type CallContext } from "./in-process-transport.js";
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
 * One gRPC call as the fast path serves it, whichever HTTP/2 server carries it: node:http2's
 * (below) or the router's own for the facade's connections (h2c/h2-server-connection.ts).
 */
export interface FastCall {
  /** The request's headers less the pseudo-headers. */
  readonly headers: readonly [string, string][];
  /**
   * The request body once the client ended its side; rejects with a ConnectError when it is over
   * the size limit (ResourceExhausted) or the client went away first (Canceled).
   */
  body(): Promise<Buffer>;
  /** Whether the client is gone (reset, connection lost): nothing more reaches it. */
  readonly gone: boolean;
  /** Calls `listener` once when the client goes away before the answer ended. */
  onGone(listener: () => void): void;
  /** Sends the response headers (status 200). */
  respond(headers: Headers): void;
  /** Sends bytes of the body; a promise when they are held back (flow control, a full socket) until they are not. */
  write(bytes: Buffer): Promise<void> | undefined;
  /** Ends the answer with these trailers. */
  end(trailers: Headers): void;
}

/** The methods the fast path serves, by path, and the request size limit. */
export interface FastMethods {
  /** The method for a call, or undefined when the fast path does not take it (Connect does). */
  find(method: string | undefined, path: string | undefined, contentType: string | undefined, encoding: string | undefined): MethodImplSpec | undefined;
  readonly readMaxBytes: number;
}

export function collectFastMethods(options: { routes: (router: ConnectRouter) => void; methods: readonly DescMethod[]; readMaxBytes?: number }): FastMethods {
  const implementations = collectMethods(options.routes);
  const byPath = new Map<string, MethodImplSpec>();
  for (const method of options.methods) {
    const spec = implementations.get(method);
    if (spec !== undefined && (spec.kind === "unary" || spec.kind === "server_streaming")) byPath.set(`/${method.parent.typeName}/${method.name}`, spec);
  }
  return {
    readMaxBytes: options.readMaxBytes ?? 0xffffffff,
    find(method, path, contentType, encoding) {
      if (method !== "POST" || path === undefined) return undefined;
      const spec = byPath.get(path);
      if (spec === undefined) return undefined;
      if (contentType !== "application/grpc" && contentType !== "application/grpc+proto") return undefined;
      if (encoding !== undefined && encoding !== "identity") return undefined;
      return spec;
    },
  };
}

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
export function createGrpcFastPath(methods: FastMethods): GrpcFastPath {
  return (request, response) => {
    const encoding = request.headers["grpc-encoding"];
    const spec = methods.find(request.method, request.url, request.headers["content-type"], typeof encoding === "string" ? encoding : undefined);
    if (spec === undefined) return false;
    serveCall(spec, compatCall(request, response, methods.readMaxBytes)).catch(() => response.destroy());
    return true;
  };
}

/** Serves one call of `spec` to the end. Rejects only if the carrier itself failed (its stream should then be reset). */
export async function serveCall(spec: MethodImplSpec, call: FastCall): Promise<void> {
  const cancel = createRequestSignal();
  let done = false;
  // The client going away (RST_STREAM, a dropped connection) before the answer ended cancels the call.
  call.onGone(() => {
    if (!done) cancel.abort(new ConnectError("the client canceled the call", Code.Canceled));
  });
  let deadline: string | undefined;
  for (const [name, value] of call.headers) if (name === "grpc-timeout") deadline = value;
  const timeout = parseTimeout(deadline ?? null, maximumTimeoutMs);
  let callContext: CallContext;
  try {
    callContext = handlerContextFor(spec.method, cancel, timeout.timeoutMs, call.headers as [string, string][], "grpc");
  } catch (error) {
    // A header name or value HTTP does not allow (node:http2 refuses those before this point).
    const trailer = createHeaders();
    setTrailerStatus(trailer, new ConnectError(`malformed request headers: ${error instanceof Error ? error.message : String(error)}`, Code.InvalidArgument));
    call.respond(createHeaders([["content-type", "application/grpc+proto"]]));
    call.end(trailer);
    return;
  }
  const { context, end } = callContext;
  let headerSent = false;
  const sendHeader = () => {
    if (headerSent) return;
    headerSent = true;
    context.responseHeader.set("content-type", "application/grpc+proto");
    call.respond(context.responseHeader);
  };
  try {
    if (timeout.error !== undefined) throw timeout.error;
    // With a deadline, waiting on the client (its body, its window) ends when it passes.
    const expired = timeout.timeoutMs === undefined ? undefined : whenAborted(context.signal);
    const body = await (expired === undefined ? call.body() : Promise.race([call.body(), expired]));
    // Reset while its body was read (a client opening and resetting streams at once): the handler never runs.
    if (call.gone) return;
    const input = messageOf(body, spec.method);
    if (spec.kind === "unary") {
      const output = create(spec.method.output, (await spec.impl(input as never, context)) as never);
      sendHeader();
      call.write(grpcEnvelope(toBinary(spec.method.output, output)));
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
          if (call.gone) break;
          sendHeader();
          // The batch in one write: one DATA frame, and one read on the client's side.
          const framed =
            spec.method.output.typeName === ChatStreamResponseSchema.typeName
              ? encodeChatStreamResponses(batch.value as MessageInitShape<typeof ChatStreamResponseSchema>[])
              : grpcEnvelopes(batch.value.map((item) => toBinary(spec.method.output, create(spec.method.output, item as never))));
          const held = call.write(framed);
          if (held !== undefined) await (expired === undefined ? held : Promise.race([held, expired]));
        }
      } finally {
        // Stopped early (the client went away, a write failed): the handler stops too.
        if (!ended) await outputs.return?.();
      }
    }
    finish(call, context, sendHeader, undefined);
  } catch (error) {
    if (!call.gone) finish(call, context, sendHeader, error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal, undefined, undefined, error));
  } finally {
    done = true;
    // Ends a deadline's timer (a call without one has nothing to end).
    end();
  }
}

/** Rejects with the signal's reason once it aborts (never settles otherwise; a handled rejection). */
function whenAborted(signal: AbortSignal): Promise<never> {
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
  aborted.catch(() => undefined);
  return aborted;
}

/** Ends the answer: the response headers if none went out yet, then the trailers with the status. */
function finish(call: FastCall, context: HandlerContext, sendHeader: () => void, error: ConnectError | undefined): void {
  if (call.gone) return;
  sendHeader();
  const trailer = createHeaders(context.responseTrailer);
  if (error === undefined) trailer.set("grpc-status", "0");
  else setTrailerStatus(trailer, error);
  call.end(trailer);
}

/** The request's one message (unary and server-streaming calls send exactly one). Throws a ConnectError. */
function messageOf(body: Buffer, method: DescMethod): unknown {
  if (body.length < 5) throw new ConnectError("protocol error: missing request message", Code.Unimplemented);
  const length = body.readUInt32BE(1);
  if (body.length !== 5 + length) throw new ConnectError("protocol error: the request is not one whole message", Code.InvalidArgument);
  if ((body[0]! & 1) !== 0) throw new ConnectError("protocol error: received compressed message without grpc-encoding", Code.Internal);
  try {
    return decodeInput(method, body.subarray(5));
  } catch (error) {
    throw new ConnectError(`parse binary: ${error instanceof Error ? error.message : String(error)}`, Code.InvalidArgument);
  }
}

/** A call carried by node:http2's compatibility request and response. */
function compatCall(request: http2.Http2ServerRequest, response: http2.Http2ServerResponse, readMaxBytes: number): FastCall {
  return {
    headers: requestHeaders(request),
    body: () => readBody(request, readMaxBytes),
    get gone() {
      return response.destroyed;
    },
    onGone: (listener) => response.once("close", listener),
    respond: (headers) => response.writeHead(200, headerObject(headers)),
    write: (bytes) => (response.write(bytes) ? undefined : waitForDrain(response)),
    end(trailers) {
      response.addTrailers(headerObject(trailers));
      response.end();
    },
  };
}

/** The whole request body, up to readMaxBytes plus the envelope's 5 bytes. */
function readBody(request: http2.Http2ServerRequest, readMaxBytes: number): Promise<Buffer> {
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
        fail(() => tooLarge(readMaxBytes));
        request.removeAllListeners("data");
        request.resume();
        return;
      }
      chunks.push(chunk);
    });
    request.once("error", (error) => fail(() => ConnectError.from(error, Code.Canceled)));
    // Closed before the whole message came: the client went away. (Errors are built only when they
    // are thrown: capturing a stack on every call's normal close cost more than the rest of the read.)
    request.once("close", () => fail(clientCanceled));
    request.once("end", () => {
      if (settled) return;
      settled = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
  });
}

export const tooLarge = (readMaxBytes: number) => new ConnectError(`message size is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted);
export const clientCanceled = () => new ConnectError("the client canceled the call", Code.Canceled);

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

export function headerObject(headers: Headers): Record<string, string | string[]> {
  const object: Record<string, string | string[]> = {};
  headers.forEach((value, name) => {
    const present = object[name];
    object[name] = present === undefined ? value : Array.isArray(present) ? [...present, value] : [present, value];
  });
  return object;
}
