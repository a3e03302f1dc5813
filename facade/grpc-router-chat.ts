import { fromBinary, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { validateResponse, validateTrailer } from "@connectrpc/connect/protocol-grpc";
import { ChatRequestSchema, ChatResponseSchema, ChatStreamRequestSchema, ChatStreamResponseSchema, InferenceService } from "../gen/iir/inference/v1/inference_pb.js";
import { connectErrorFromNodeError } from "../services/common/errors.js";
import type { RouterAnswer, RouterChat } from "./router-chat.js";
import type { BatchingIterator } from "../services/common/async-iterables.js";
import { grpcEnvelope } from "../services/common/grpc-envelope.js";
import { decodeChatStreamResponse } from "../services/common/chat-stream-codec.js";
import { encodeChatParamsRequest } from "../services/common/chat-request-codec.js";
import { createHeaders } from "../services/common/plain-headers.js";
import { iirClientSetting } from "../services/common/h2c/h2-server-connection.js";
import { H2ClientConnection } from "../services/common/h2c/h2-client-connection.js";
import type { H2ClientStream, StreamFailure, StreamHandler } from "../services/common/h2c/h2-client-stream.js";
import { h2ErrorCodes } from "../services/common/h2c/frames.js";
import { encodeHeaderBlock, type HeaderPair } from "../services/common/h2c/hpack.js";

/** Reads a message from the bytes of `buffer` between `start` and `end`. */
type Decode<T> = (buffer: Buffer, start: number, end: number) => T;

const decodeChatResponse: Decode<MessageShape<typeof ChatResponseSchema>> = (buffer, start, end) => fromBinary(ChatResponseSchema, buffer.subarray(start, end));

/** {@link RouterChat} over one HTTP/2 connection, and how to close it. */
export interface GrpcRouterChat extends RouterChat {
  close(): void;
}

// A stream's parts are read ahead up to this many before the stream is paused (HTTP/2 flow control
// then holds the router back).
const readAhead = 64;

/**
 * Chat and ChatStream of a router over gRPC (h2c, or h2 for an https URL), on the project's own
 * HTTP/2 client (services/common/h2c). Connect's gRPC transport runs every call through a pipeline
 * of async iterables (serialize, envelope, split, parse…) and linked abort controllers, ~0.5 ms of
 * CPU per call on the facade's hot path; a call on node:http2's client costs ~50 µs, on the own
 * client ~17 µs. This speaks the same protocol: gRPC framing of binary protobuf, status and error details in
 * trailers (read with Connect's own helpers), RST_STREAM CANCEL when the caller's signal aborts. One
 * connection is kept and a new one opened when it closes, fails or goes away (or, with
 * `keepaliveMs`, stops answering PINGs while calls are open); a call the router never processed
 * (beyond its GOAWAY) is sent once more on the new one.
 * (`@connectrpc/connect/protocol-grpc` is Connect's internal API; package.json pins Connect exactly.)
 */
export function createGrpcRouterChat(baseUrl: string, options: { keepaliveMs?: number } = {}): GrpcRouterChat {
  const url = new URL(baseUrl);
  const origin = url.origin;
  const prefix = url.pathname.replace(/\/+$/, "");
  const fixedFields = (method: string): Buffer =>
    encodeHeaderBlock([
      [":method", "POST"],
      [":scheme", url.protocol === "https:" ? "https" : "http"],
      [":path", `${prefix}/${InferenceService.typeName}/${method}`],
      [":authority", url.host],
      ["content-type", "application/grpc+proto"],
      ["te", "trailers"],
    ]);
  const chatFields = fixedFields(InferenceService.method.chat.name);
  const chatStreamFields = fixedFields(InferenceService.method.chatStream.name);
  const connections = new RouterConnections(url, options.keepaliveMs);
  const start = <T>(fixed: Buffer, body: Uint8Array, headers: Record<string, string>, signal: AbortSignal, decode: Decode<T>) => {
    // A caller already gone gets no call at all.
    if (signal.aborted) throw canceled();
    const headerBlock = Buffer.concat([fixed, encodeHeaderBlock(Object.entries(headers))]);
    return new GrpcCall(connections, headerBlock, grpcEnvelope(body), signal, decode, origin);
  };

  return {
    async chat(request, signal, headers) {
      const call = start(chatFields, encodeChatParamsRequest(ChatRequestSchema, request), headers, signal, decodeChatResponse);
      const header = await call.header;
      const message = await call.next();
      if (message.done === true) {
        await call.finished;
        throw new ConnectError("protocol error: missing output message for unary method", Code.Unimplemented);
      }
      const end = await call.next();
      if (end.done !== true) throw new ConnectError("protocol error: received extra output message for unary method", Code.Unimplemented);
      return { header, trailer: call.trailer, message: message.value };
    },
    async chatStream(request, signal, headers): Promise<RouterAnswer<AsyncIterable<MessageShape<typeof ChatStreamResponseSchema>>>> {
      const call = start(chatStreamFields, encodeChatParamsRequest(ChatStreamRequestSchema, request), headers, signal, decodeChatStreamResponse);
      const header = await call.header;
      return { header, trailer: call.trailer, message: { [Symbol.asyncIterator]: () => call } };
    },
    close() {
      connections.close();
    },
  };
}

/** The connection calls go on: one at a time, a new one once it can take no more streams. */
class RouterConnections {
  private current: H2ClientConnection | undefined;

  constructor(
    private readonly url: URL,
    private readonly keepaliveMs: number | undefined,
  ) {}

  request(headerBlock: Buffer, body: Buffer, handler: StreamHandler): H2ClientStream {
    let connection = this.current;
    if (connection === undefined || !connection.usable) {
      const opened = new H2ClientConnection(this.url, {
        keepaliveMs: this.keepaliveMs,
        // Asks an IIR router for its own HTTP/2 server (h2-server-connection.ts); other servers ignore it.
        settings: [[iirClientSetting, 1]],
        // Going away, failed or out of stream ids: its streams finish there, new ones go elsewhere.
        onUnusable: () => {
          if (this.current === opened) this.current = undefined;
          opened.close();
        },
      });
      this.current = connection = opened;
    }
    return connection.request(headerBlock, body, handler);
  }

  close(): void {
    this.current?.close();
    this.current = undefined;
  }
}

/** One call: its response headers, its messages (as an async iterator), its trailers and status. */
class GrpcCall<T> implements BatchingIterator<T>, StreamHandler {
  readonly header: Promise<Headers>;
  /** Filled in when the trailers arrive. */
  readonly trailer = createHeaders();
  /** Settles when the call ended: resolved with an OK status, rejected with its error. */
  readonly finished: Promise<void>;
  private stream: H2ClientStream;
  private readonly messages: T[] = [];
  private pending: Buffer | undefined;
  private waiter: { resolve(result: IteratorResult<T>): void; reject(error: unknown): void } | undefined;
  private error: ConnectError | undefined;
  private ended = false;
  private responseHeader: Headers | undefined;
  private sentAgain = false;
  private settleFinished!: (error?: ConnectError) => void;
  private resolveHeader!: (headers: Headers) => void;
  private rejectHeader!: (error: unknown) => void;
  private readonly onAbort = () => this.stream.cancel();

  constructor(
    private readonly connections: RouterConnections,
    private readonly headerBlock: Buffer,
    private readonly body: Buffer,
    private readonly signal: AbortSignal,
    private readonly decode: Decode<T>,
    private readonly origin: string,
  ) {
    this.header = new Promise((resolve, reject) => {
      this.resolveHeader = resolve;
      this.rejectHeader = reject;
    });
    this.finished = new Promise((resolve, reject) => {
      this.settleFinished = (error) => (error === undefined ? resolve() : reject(error));
    });
    // Read only through next()/header; a failure nobody waits for must not be unhandled.
    this.finished.catch(() => undefined);
    this.header.catch(() => undefined);
    this.stream = connections.request(headerBlock, body, this);
    signal.addEventListener("abort", this.onAbort, { once: true });
  }

  /** @internal StreamHandler: the response headers, then the trailers. */
  onHeaders(fields: HeaderPair[], endStream: boolean): void {
    if (this.responseHeader !== undefined) {
      for (const [name, value] of fields) if (!name.startsWith(":")) this.trailer.append(name, value);
      return;
    }
    let status = 0;
    const received = createHeaders();
    for (const [name, value] of fields) {
      if (name === ":status") status = Number(value);
      else if (!name.startsWith(":")) received.append(name, value);
    }
    this.responseHeader = received;
    try {
      const { headerError } = validateResponse(status, received);
      // A trailers-only answer: the status came with the headers.
      if (headerError !== undefined) throw headerError;
      this.resolveHeader(received);
    } catch (error) {
      this.fail(ConnectError.from(error));
      this.rejectHeader(this.error);
      if (!endStream) this.stream.cancel();
    }
  }

  /** @internal StreamHandler */
  onData(data: Buffer): void {
    this.receive(data);
  }

  /** @internal StreamHandler */
  onClose(failure: StreamFailure | undefined): void {
    if (failure?.kind === "unprocessed" && !this.sentAgain && !this.signal.aborted) {
      // The router never saw it (it went away first): once more, on a new connection.
      this.sentAgain = true;
      try {
        this.stream = this.connections.request(this.headerBlock, this.body, this);
        return;
      } catch (error) {
        failure = { kind: "connection", error: error as Error };
      }
    }
    this.signal.removeEventListener("abort", this.onAbort);
    if (failure === undefined) {
      if (this.error === undefined && !this.ended) this.finish(undefined);
    } else if (failure.kind === "reset") {
      if (this.error === undefined && !this.ended) this.finish(failure.code);
    } else {
      this.fail(this.signal.aborted ? canceled() : connectErrorFromNodeError(failure.error, `the router at ${this.origin} is unreachable`));
    }
    if (this.responseHeader === undefined) this.rejectHeader(this.error ?? new ConnectError("protocol error: the router closed the call without answering", Code.Unavailable));
  }

  next(): Promise<IteratorResult<T>> {
    const message = this.messages.shift();
    if (message !== undefined) {
      if (this.messages.length < readAhead / 2 && this.stream.isPaused) this.stream.resume();
      return Promise.resolve({ done: false, value: message });
    }
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    if (this.stream.isPaused) this.stream.resume();
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** Every message received and not yet read, or the next one to arrive. */
  nextBatch(): Promise<IteratorResult<readonly T[]>> {
    if (this.messages.length > 0) {
      const batch = this.messages.splice(0);
      if (this.stream.isPaused) this.stream.resume();
      return Promise.resolve({ done: false, value: batch });
    }
    return this.next().then((result) => (result.done === true ? result : { done: false, value: [result.value] }));
  }

  /** The caller stopped reading: the router is told to stop too. */
  async return(): Promise<IteratorResult<T>> {
    if (!this.ended && this.error === undefined) {
      this.fail(canceled());
      this.stream.cancel();
    }
    return { done: true, value: undefined };
  }

  /** Splits gRPC envelopes (1 flag byte, 4 length bytes, the message) out of the body, reading each in place. */
  private receive(chunk: Buffer): void {
    const buffer = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    let at = 0;
    while (buffer.length - at >= 5) {
      const length = buffer.readUInt32BE(at + 1);
      if (buffer.length - at < 5 + length) break;
      if ((buffer[at]! & 1) !== 0) {
        this.fail(new ConnectError("protocol error: the router sent a compressed message without being asked to", Code.Internal));
        this.stream.cancel();
        return;
      }
      let message: T;
      try {
        message = this.decode(buffer, at + 5, at + 5 + length);
      } catch (error) {
        this.fail(new ConnectError(`protocol error: the router sent a message that does not parse: ${String(error)}`, Code.Internal));
        this.stream.cancel();
        return;
      }
      at += 5 + length;
      this.deliver(message);
    }
    this.pending = at === buffer.length ? undefined : buffer.subarray(at);
    if (this.messages.length >= readAhead) this.stream.pause();
  }

  private deliver(message: T): void {
    const waiter = this.waiter;
    if (waiter === undefined) {
      this.messages.push(message);
      return;
    }
    this.waiter = undefined;
    waiter.resolve({ done: false, value: message });
  }

  /** The stream closed: its trailers say how the call ended. */
  private finish(rstCode: number | undefined): void {
    let error: ConnectError | undefined;
    if (this.pending !== undefined) {
      error = new ConnectError("protocol error: the router's answer ended inside a message", Code.Internal);
    } else if (rstCode !== undefined && rstCode !== h2ErrorCodes.noError && !hasStatus(this.trailer, this.responseHeader)) {
      error = errorFromResetCode(rstCode);
    } else {
      try {
        validateTrailer(this.trailer, this.responseHeader ?? createHeaders());
      } catch (thrown) {
        error = ConnectError.from(thrown);
      }
    }
    if (error !== undefined) {
      // Messages that came before the status are still the caller's, then the error (as for-await reads a gRPC stream).
      this.fail(error, true);
      return;
    }
    this.ended = true;
    this.settleFinished();
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve({ done: true, value: undefined });
  }

  private fail(error: ConnectError, keepMessages = false): void {
    if (this.error !== undefined || this.ended) return;
    this.error = error;
    if (!keepMessages) this.messages.length = 0;
    this.settleFinished(error);
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
  }
}

function hasStatus(trailer: Headers, header: Headers | undefined): boolean {
  return trailer.has("grpc-status") || header?.has("grpc-status") === true;
}

function canceled(): ConnectError {
  return new ConnectError("the operation was aborted", Code.Canceled);
}

/** As connect-node maps an HTTP/2 RST_STREAM code. */
function errorFromResetCode(rstCode: number): ConnectError {
  const message = `http/2 stream closed with error code 0x${rstCode.toString(16)}`;
  switch (rstCode) {
    case h2ErrorCodes.refusedStream:
      return new ConnectError(message, Code.Unavailable);
    case h2ErrorCodes.cancel:
      return new ConnectError(message, Code.Canceled);
    case h2ErrorCodes.enhanceYourCalm:
      return new ConnectError(message, Code.ResourceExhausted);
    case h2ErrorCodes.inadequateSecurity:
    case h2ErrorCodes.http11Required:
      return new ConnectError(message, Code.PermissionDenied);
    default:
      return new ConnectError(message, Code.Internal);
  }
}
