import type { ConnectError } from "@connectrpc/connect";
import { clientCanceled, tooLarge, type FastCall } from "../grpc-fast-path.js";
import { flags, frame, frameTypes, h2ErrorCodes, rstStream, windowUpdate } from "./frames.js";
import { encodeHeaderBlock, type HeaderPair } from "./hpack.js";

/** Credit per stream for request bodies, announced in SETTINGS; given back as the body is read. */
export const ourStreamWindow = 1024 * 1024;

/** What a stream needs of its connection. */
export interface ServerStreamConnection {
  readonly peerMaxFrameSize: number;
  /** Writes with everything else written in this turn of the event loop. */
  write(bytes: Buffer): void;
  /** Resolves once the socket has room again (undefined when it has). */
  whenWritable(): Promise<void> | undefined;
  /** The window the stream may send in now: its own and the connection's. */
  sendable(stream: H2ServerStream): number;
  /** Bytes of DATA sent, out of the connection's window. */
  sent(bytes: number): void;
  /** The stream waits for window. */
  block(stream: H2ServerStream): void;
  /** The stream is done on both sides (or reset). */
  forget(stream: H2ServerStream): void;
}

/** One request stream of H2ServerConnection, as the gRPC fast path's call. */
export class H2ServerStream implements FastCall {
  gone = false;
  sendWindow: number;
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private remoteEnded = false;
  private bodyError: ConnectError | undefined;
  private bodyWaiter: { resolve(body: Buffer): void; reject(error: ConnectError): void } | undefined;
  private goneListeners: (() => void)[] = [];
  /** Credit read but not yet given back. */
  private unacknowledged = 0;
  /** DATA waiting for window, then the trailers' block (sent once the DATA is out). */
  private queued: Buffer[] = [];
  private trailerBlock: Buffer | undefined;
  private localEnded = false;
  private flushWaiters: (() => void)[] = [];

  constructor(
    private readonly connection: ServerStreamConnection,
    readonly id: number,
    readonly headers: readonly [string, string][],
    initialWindow: number,
    private readonly readMaxBytes: number,
  ) {
    this.sendWindow = initialWindow;
  }

  body(): Promise<Buffer> {
    if (this.bodyError !== undefined) return Promise.reject(this.bodyError);
    if (this.remoteEnded) return Promise.resolve(this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size));
    return new Promise((resolve, reject) => {
      this.bodyWaiter = { resolve, reject };
    });
  }

  onGone(listener: () => void): void {
    if (this.gone) listener();
    else this.goneListeners.push(listener);
  }

  /** Request body bytes (`counted` for flow control, padding included), and whether they end it. */
  received(data: Buffer, counted: number, end: boolean): void {
    if (this.remoteEnded) {
      if (counted > 0 || end) this.reset(true, h2ErrorCodes.streamClosed);
      return;
    }
    if (this.bodyError === undefined && data.length > 0) {
      this.size += data.length;
      if (this.size > this.readMaxBytes + 5) {
        this.chunks.length = 0;
        this.failBody(tooLarge(this.readMaxBytes));
      } else {
        this.chunks.push(Buffer.from(data));
      }
    }
    if (end) {
      this.remoteEnded = true;
      const waiter = this.bodyWaiter;
      this.bodyWaiter = undefined;
      if (waiter !== undefined && this.bodyError === undefined) waiter.resolve(this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size));
      if (this.localEnded) this.connection.forget(this);
      return;
    }
    this.unacknowledged += counted;
    if (this.unacknowledged >= ourStreamWindow / 2) {
      this.connection.write(windowUpdate(this.id, this.unacknowledged));
      this.unacknowledged = 0;
    }
  }

  respond(headers: Headers): void {
    if (this.gone) return;
    this.sendHeaderBlock(headerBlock([[":status", "200"]], headers), false);
  }

  write(bytes: Buffer): Promise<void> | undefined {
    if (this.gone || this.localEnded || bytes.length === 0) return undefined;
    this.queued.push(bytes);
    this.flush();
    if (this.queued.length > 0) return new Promise((resolve) => this.flushWaiters.push(resolve));
    return this.connection.whenWritable();
  }

  end(trailers: Headers): void {
    if (this.gone || this.localEnded) return;
    // A failed call (a deadline passed while its DATA waited for window, say) ends now: what was
    // not sent yet would only hold the status back.
    if (trailers.get("grpc-status") !== "0") this.queued = [];
    this.trailerBlock = headerBlock([], trailers);
    this.flush();
  }

  /** Answers at once with an error status and no messages (a Trailers-Only response). */
  refuse(error: ConnectError): void {
    const trailers = new Headers({ "content-type": "application/grpc+proto", "grpc-status": String(error.code), "grpc-message": encodeURIComponent(error.rawMessage) });
    this.trailerBlock = headerBlock([[":status", "200"]], trailers);
    this.failBody(error);
    this.flush();
  }

  /** Sends what the windows allow of the queued DATA, then the trailers once it is all out. */
  flush(): void {
    if (this.gone) return;
    const connection = this.connection;
    while (this.queued.length > 0) {
      const window = connection.sendable(this);
      if (window <= 0) {
        connection.block(this);
        return;
      }
      const head = this.queued[0]!;
      const size = Math.min(head.length, window, connection.peerMaxFrameSize);
      connection.write(frame(frameTypes.data, 0, this.id, size === head.length ? head : head.subarray(0, size)));
      this.sendWindow -= size;
      connection.sent(size);
      if (size === head.length) this.queued.shift();
      else this.queued[0] = head.subarray(size);
    }
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const resolve of waiters) resolve();
    const trailers = this.trailerBlock;
    if (trailers === undefined) return;
    this.trailerBlock = undefined;
    this.sendHeaderBlock(trailers, true);
    this.localEnded = true;
    if (this.remoteEnded) {
      connection.forget(this);
      return;
    }
    // Answered before the client finished its request: it may stop sending (RFC 9113 §8.1).
    connection.write(rstStream(this.id, h2ErrorCodes.noError));
    this.gone = true;
    connection.forget(this);
  }

  /** The stream is over without its answer: reset by the client, or by us with `code`. */
  reset(sendReset: boolean, code: number = h2ErrorCodes.cancel): void {
    if (this.gone) return;
    this.gone = true;
    if (sendReset) this.connection.write(rstStream(this.id, code));
    this.queued = [];
    this.failBody(clientCanceled());
    const listeners = this.goneListeners;
    this.goneListeners = [];
    for (const listener of listeners) listener();
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const resolve of waiters) resolve();
    this.connection.forget(this);
  }

  private failBody(error: ConnectError): void {
    if (this.bodyError !== undefined) return;
    this.bodyError = error;
    const waiter = this.bodyWaiter;
    this.bodyWaiter = undefined;
    waiter?.reject(error);
  }

  private sendHeaderBlock(block: Buffer, endStream: boolean): void {
    const connection = this.connection;
    const max = connection.peerMaxFrameSize;
    const endFlag = endStream ? flags.endStream : 0;
    if (block.length <= max) {
      connection.write(frame(frameTypes.headers, flags.endHeaders | endFlag, this.id, block));
      return;
    }
    connection.write(frame(frameTypes.headers, endFlag, this.id, block.subarray(0, max)));
    for (let at = max; at < block.length; at += max) {
      connection.write(frame(frameTypes.continuation, at + max >= block.length ? flags.endHeaders : 0, this.id, block.subarray(at, at + max)));
    }
  }
}

/** `first` then `headers` as one header block; a field HTTP/2 cannot carry is left out. */
function headerBlock(first: HeaderPair[], headers: Headers): Buffer {
  const fields = first;
  headers.forEach((value, name) => fields.push([name, value]));
  try {
    return encodeHeaderBlock(fields);
  } catch {
    return encodeHeaderBlock(fields.filter(([name, value]) => {
      try {
        encodeHeaderBlock([[name, value]]);
        return true;
      } catch {
        return false;
      }
    }));
  }
}
