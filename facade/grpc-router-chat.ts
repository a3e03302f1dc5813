import http2 from "node:http2";
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { validateResponse, validateTrailer } from "@connectrpc/connect/protocol-grpc";
import { ChatRequestSchema, ChatResponseSchema, ChatStreamRequestSchema, ChatStreamResponseSchema, InferenceService } from "../gen/iir/inference/v1/inference_pb.js";
import { connectErrorFromNodeError } from "../services/common/errors.js";
import type { RouterAnswer, RouterChat } from "./router-chat.js";
import type { BatchingIterator } from "../services/common/async-iterables.js";
import { grpcEnvelope } from "../services/common/grpc-envelope.js";
import { createHeaders } from "../services/common/plain-headers.js";

/** {@link RouterChat} over one HTTP/2 connection, and how to close it. */
export interface GrpcRouterChat extends RouterChat {
  close(): void;
}

// A stream's parts are read ahead up to this many before the stream is paused (HTTP/2 flow control
// then holds the router back).
const readAhead = 64;

/**
 * Chat and ChatStream of a router over gRPC (h2c, or h2 for an https URL), written on node:http2
 * directly. Connect's gRPC transport runs every call through a pipeline of async iterables
 * (serialize, envelope, split, parse…) and linked abort controllers; on the facade's hot path that
 * cost ~0.5 ms of CPU per call. This speaks the same protocol: gRPC framing of binary protobuf,
 * status and error details in trailers (read with Connect's own helpers), RST_STREAM CANCEL when
 * the caller's signal aborts. One connection is kept and re-opened after it closes or fails.
 * (`@connectrpc/connect/protocol-grpc` is Connect's internal API; package.json pins Connect exactly.)
 */
export function createGrpcRouterChat(baseUrl: string): GrpcRouterChat {
  const url = new URL(baseUrl);
  const origin = url.origin;
  const prefix = url.pathname.replace(/\/+$/, "");
  const chatPath = `${prefix}/${InferenceService.typeName}/${InferenceService.method.chat.name}`;
  const chatStreamPath = `${prefix}/${InferenceService.typeName}/${InferenceService.method.chatStream.name}`;
  let session: http2.ClientHttp2Session | undefined;
  const connection = (): http2.ClientHttp2Session => {
    if (session !== undefined && !session.closed && !session.destroyed) return session;
    const opened = http2.connect(origin);
    const forget = () => {
      if (session === opened) session = undefined;
    };
    // A failed connection fails its streams, which is where callers hear of it.
    opened.on("error", forget);
    opened.once("goaway", forget);
    opened.once("close", forget);
    session = opened;
    return opened;
  };
  const start = <O extends DescMessage>(path: string, body: Uint8Array, headers: Record<string, string>, signal: AbortSignal, output: O) => {
    // A caller already gone gets no call at all.
    if (signal.aborted) throw canceled();
    return new GrpcCall(connection(), path, body, headers, signal, output, origin);
  };

  return {
    async chat(request, signal, headers) {
      const call = start(chatPath, toBinary(ChatRequestSchema, create(ChatRequestSchema, request)), headers, signal, ChatResponseSchema);
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
      const call = start(chatStreamPath, toBinary(ChatStreamRequestSchema, create(ChatStreamRequestSchema, request)), headers, signal, ChatStreamResponseSchema);
      const header = await call.header;
      return { header, trailer: call.trailer, message: { [Symbol.asyncIterator]: () => call } };
    },
    close() {
      session?.close();
      session = undefined;
    },
  };
}

/** One call: its response headers, its messages (as an async iterator), its trailers and status. */
class GrpcCall<O extends DescMessage> implements BatchingIterator<MessageShape<O>> {
  readonly header: Promise<Headers>;
  /** Filled in when the trailers arrive. */
  readonly trailer = createHeaders();
  /** Settles when the call ended: resolved with an OK status, rejected with its error. */
  readonly finished: Promise<void>;
  private readonly stream: http2.ClientHttp2Stream;
  private readonly messages: MessageShape<O>[] = [];
  private pending: Buffer | undefined;
  private waiter: { resolve(result: IteratorResult<MessageShape<O>>): void; reject(error: unknown): void } | undefined;
  private error: ConnectError | undefined;
  private ended = false;
  private responseHeader: Headers | undefined;
  private settleFinished!: (error?: ConnectError) => void;

  constructor(
    session: http2.ClientHttp2Session,
    path: string,
    body: Uint8Array,
    headers: Record<string, string>,
    private readonly signal: AbortSignal,
    private readonly output: O,
    private readonly origin: string,
  ) {
    let resolveHeader!: (headers: Headers) => void;
    let rejectHeader!: (error: unknown) => void;
    this.header = new Promise((resolve, reject) => {
      resolveHeader = resolve;
      rejectHeader = reject;
    });
    this.finished = new Promise((resolve, reject) => {
      this.settleFinished = (error) => (error === undefined ? resolve() : reject(error));
    });
    // Read only through next()/header; a failure nobody waits for must not be unhandled.
    this.finished.catch(() => undefined);
    this.header.catch(() => undefined);
    const stream = session.request({
      ...headers,
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc+proto",
      te: "trailers",
    });
    this.stream = stream;
    const onAbort = () => stream.close(http2.constants.NGHTTP2_CANCEL);
    signal.addEventListener("abort", onAbort, { once: true });
    stream.once("response", (raw) => {
      const received = toHeaders(raw);
      this.responseHeader = received;
      try {
        const { headerError } = validateResponse(Number(raw[":status"] ?? 0), received);
        // A trailers-only answer: the status came with the headers.
        if (headerError !== undefined) throw headerError;
        resolveHeader(received);
      } catch (error) {
        this.fail(ConnectError.from(error));
        rejectHeader(this.error);
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }
    });
    stream.on("data", (chunk: Buffer) => this.receive(chunk));
    stream.once("trailers", (raw) => {
      for (const [name, value] of Object.entries(raw)) appendHeader(this.trailer, name, value as string | string[] | undefined);
    });
    stream.once("error", (error: unknown) => this.fail(this.signal.aborted ? canceled() : connectErrorFromNodeError(error, `the router at ${this.origin} is unreachable`)));
    stream.once("close", () => {
      signal.removeEventListener("abort", onAbort);
      if (this.error === undefined && !this.ended) this.finish(stream.rstCode);
      if (this.responseHeader === undefined) rejectHeader(this.error ?? new ConnectError("protocol error: the router closed the call without answering", Code.Unavailable));
    });
    stream.end(grpcEnvelope(body));
  }

  next(): Promise<IteratorResult<MessageShape<O>>> {
    const message = this.messages.shift();
    if (message !== undefined) {
      if (this.messages.length < readAhead / 2 && this.stream.isPaused()) this.stream.resume();
      return Promise.resolve({ done: false, value: message });
    }
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    if (this.stream.isPaused()) this.stream.resume();
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** Every message received and not yet read, or the next one to arrive. */
  nextBatch(): Promise<IteratorResult<readonly MessageShape<O>[]>> {
    if (this.messages.length > 0) {
      const batch = this.messages.splice(0);
      if (this.stream.isPaused()) this.stream.resume();
      return Promise.resolve({ done: false, value: batch });
    }
    return this.next().then((result) => (result.done === true ? result : { done: false, value: [result.value] }));
  }

  /** The caller stopped reading: the router is told to stop too. */
  async return(): Promise<IteratorResult<MessageShape<O>>> {
    if (!this.ended && this.error === undefined) {
      this.fail(canceled());
      this.stream.close(http2.constants.NGHTTP2_CANCEL);
    }
    return { done: true, value: undefined };
  }

  /** Splits gRPC envelopes (1 flag byte, 4 length bytes, the message) out of the body. */
  private receive(chunk: Buffer): void {
    let buffer = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    while (buffer.length >= 5) {
      const length = buffer.readUInt32BE(1);
      if (buffer.length < 5 + length) break;
      if ((buffer[0]! & 1) !== 0) {
        this.fail(new ConnectError("protocol error: the router sent a compressed message without being asked to", Code.Internal));
        this.stream.close(http2.constants.NGHTTP2_CANCEL);
        return;
      }
      let message: MessageShape<O>;
      try {
        message = fromBinary(this.output, buffer.subarray(5, 5 + length));
      } catch (error) {
        this.fail(new ConnectError(`protocol error: the router sent a message that does not parse: ${String(error)}`, Code.Internal));
        this.stream.close(http2.constants.NGHTTP2_CANCEL);
        return;
      }
      buffer = buffer.subarray(5 + length);
      this.deliver(message);
    }
    this.pending = buffer.length === 0 ? undefined : buffer;
    if (this.messages.length >= readAhead) this.stream.pause();
  }

  private deliver(message: MessageShape<O>): void {
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
    } else if (rstCode !== undefined && rstCode !== http2.constants.NGHTTP2_NO_ERROR && !hasStatus(this.trailer, this.responseHeader)) {
      error = errorFromResetCode(rstCode);
    } else {
      try {
        validateTrailer(this.trailer, this.responseHeader ?? createHeaders());
      } catch (thrown) {
        error = ConnectError.from(thrown);
      }
    }
    if (error !== undefined) {
      this.fail(error);
      return;
    }
    this.ended = true;
    this.settleFinished();
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve({ done: true, value: undefined });
  }

  private fail(error: ConnectError): void {
    if (this.error !== undefined || this.ended) return;
    this.error = error;
    this.messages.length = 0;
    this.settleFinished(error);
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
  }
}

function toHeaders(raw: http2.IncomingHttpHeaders): Headers {
  const headers = createHeaders();
  for (const [name, value] of Object.entries(raw)) appendHeader(headers, name, value);
  return headers;
}

function appendHeader(headers: Headers, name: string, value: string | string[] | number | undefined): void {
  if (name.startsWith(":") || value === undefined) return;
  if (Array.isArray(value)) for (const item of value) headers.append(name, item);
  else headers.append(name, String(value));
}

function hasStatus(trailer: Headers, header: Headers | undefined): boolean {
  return trailer.has("grpc-status") || header?.has("grpc-status") === true;
}

function canceled(): ConnectError {
  return new ConnectError("the operation was aborted", Code.Canceled);
}

/** As connect-node maps an HTTP/2 RST_STREAM code. */
function errorFromResetCode(rstCode: number): ConnectError {
  const constants = http2.constants;
  const message = `http/2 stream closed with error code 0x${rstCode.toString(16)}`;
  switch (rstCode) {
    case constants.NGHTTP2_REFUSED_STREAM:
      return new ConnectError(message, Code.Unavailable);
    case constants.NGHTTP2_CANCEL:
      return new ConnectError(message, Code.Canceled);
    case constants.NGHTTP2_ENHANCE_YOUR_CALM:
      return new ConnectError(message, Code.ResourceExhausted);
    case constants.NGHTTP2_INADEQUATE_SECURITY:
    case constants.NGHTTP2_HTTP_1_1_REQUIRED:
      return new ConnectError(message, Code.PermissionDenied);
    default:
      return new ConnectError(message, Code.Internal);
  }
}
