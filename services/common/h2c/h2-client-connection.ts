import net from "node:net";
import tls from "node:tls";
import { holdWritesUntilTurnEnds } from "../turn-batched-writes.js";
import { HpackDecoder, HpackError } from "./hpack.js";
import {
  clientPreface,
  ConnectionError,
  defaultWindow,
  flags,
  frame,
  frameTypes,
  goaway,
  h2ErrorCodes,
  grownWindow,
  HeaderBlockReader,
  maxWindow,
  readFrames,
  readSettings,
  rstStream,
  readWindowIncrement,
  settingIds,
  settingsFrame,
  unpad,
  windowUpdate,
  type HeaderBlock,
} from "./frames.js";
import { H2ClientStream, streamWindow, type StreamConnection, type StreamFailure, type StreamHandler } from "./h2-client-stream.js";

/**
 * The client side of one HTTP/2 connection (RFC 9113), over TCP (h2c with prior knowledge) or TLS
 * (ALPN h2), for request/response exchanges such as gRPC calls. It does what node:http2's client
 * does for them, at a fraction of its cost per call (~17 µs against ~50 µs of CPU for a unary gRPC
 * call, decoding included, on this project's machine): framing (frames.ts), HPACK (hpack.ts), flow
 * control both ways (h2-client-stream.ts holds a stream's side), SETTINGS, PING, RST_STREAM and
 * GOAWAY. Frames written in one turn of the event loop leave in one write.
 * Server push is refused (SETTINGS_ENABLE_PUSH 0) and priorities are not sent.
 */

const maxStreamId = 2 ** 31 - 1;
/** Largest frame we accept (the protocol's default; we do not announce more). */
const ourMaxFrameSize = 16_384;
/** Largest header block we accept from the server, across CONTINUATION frames. */
const maxHeaderBlock = 256 * 1024;

/** Our SETTINGS (and `extra`), the connection window raised to the most, after the preface. */
function openingBytes(extra: readonly (readonly [number, number])[]): Buffer {
  const settings = settingsFrame([[settingIds.enablePush, 0], [settingIds.initialWindowSize, streamWindow], [settingIds.maxHeaderListSize, maxHeaderBlock], ...extra]);
  return Buffer.concat([clientPreface, settings, windowUpdate(0, maxWindow - defaultWindow)]);
}

export interface H2ClientConnectionOptions {
  /** Called when the connection can take no more streams (closed, failed or going away). */
  onUnusable?: () => void;
  /** For an https URL: TLS options beyond host, SNI and ALPN (a private CA, say). */
  tls?: tls.ConnectionOptions;
  /**
   * Milliseconds of silence from the server, while streams are open, after which the client sends a
   * PING; the connection is given up (its streams fail) when nothing arrives for as long again. A
   * call starting on a connection silent that long sends a PING at once. 0 or absent: off.
   */
  keepaliveMs?: number;
  /** SETTINGS to send besides the client's own, as [identifier, value] (an extension's, say). */
  settings?: readonly (readonly [number, number])[];
}

/**
 * One client connection. Streams beyond the server's SETTINGS_MAX_CONCURRENT_STREAMS wait their
 * turn; a body larger than the windows goes out as the server hands back credit.
 */
export class H2ClientConnection implements StreamConnection {
  private readonly socket: net.Socket;
  private readonly decoder = new HpackDecoder();
  private readonly streams = new Map<number, H2ClientStream>();
  /** Streams waiting for a slot under the server's concurrency limit. */
  private readonly waiting: H2ClientStream[] = [];
  /** Streams with body left and no window to send it. */
  private readonly blocked = new Set<H2ClientStream>();
  private nextStreamId = 1;
  private pending: Buffer | undefined;
  private readonly headerBlocks = new HeaderBlockReader("the server", maxHeaderBlock);
  private connectionSendWindow = defaultWindow;
  private connectionUnacknowledged = 0;
  private peerMaxFrameSize = 16_384;
  private peerMaxConcurrent = Infinity;
  private peerInitialWindow = defaultWindow;
  private goingAway = false;
  private failed: Error | undefined;
  private closing = false;
  /** When the server was last heard from and when the unanswered PING, if any, went out (performance.now()). */
  private lastHeard = performance.now();
  private pingSent = false;
  private pingSentAt = 0;
  private keepaliveTimer: NodeJS.Timeout | undefined;

  constructor(
    url: URL,
    private readonly options: H2ClientConnectionOptions = {},
  ) {
    const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
    const host = url.hostname.replace(/^\[|\]$/g, "");
    this.socket =
      url.protocol === "https:"
        ? tls.connect({ ...options.tls, host, port, servername: net.isIP(host) === 0 ? host : undefined, ALPNProtocols: ["h2"] })
        : net.connect({ host, port });
    this.socket.setNoDelay(true);
    this.socket.on("data", (chunk: Buffer) => this.receive(chunk));
    this.socket.on("error", (error) => this.fail(error));
    this.socket.on("close", () => this.fail(new ConnectionError("the connection closed", h2ErrorCodes.noError)));
    if (this.socket instanceof tls.TLSSocket) {
      const secure = this.socket;
      secure.once("secureConnect", () => {
        if (secure.alpnProtocol !== "h2") this.fail(new ConnectionError(`the server did not agree to HTTP/2 (ALPN: ${String(secure.alpnProtocol)})`, h2ErrorCodes.inadequateSecurity));
      });
    }
    this.write(openingBytes(options.settings ?? []));
    const keepaliveMs = options.keepaliveMs ?? 0;
    if (keepaliveMs > 0) {
      this.keepaliveTimer = setInterval(() => this.checkAlive(keepaliveMs), Math.max(1, keepaliveMs / 4));
      this.keepaliveTimer.unref();
    }
  }

  /** Whether a new stream may start here. */
  get usable(): boolean {
    return this.failed === undefined && !this.goingAway && !this.closing && this.nextStreamId <= maxStreamId;
  }

  /** Streams open or waiting. */
  get activeStreams(): number {
    return this.streams.size + this.waiting.length;
  }

  /**
   * Starts a request: `headerBlock` from encodeHeaderBlock (pseudo-headers first), then `body`,
   * ending the stream. The handler hears everything else, never before this returns. Throws when
   * the connection is not `usable`.
   */
  request(headerBlock: Buffer, body: Buffer, handler: StreamHandler): H2ClientStream {
    if (!this.usable) throw this.failed ?? new Error("the connection takes no new streams");
    // A connection silent for a while may be dead (a host gone without a reset): ask at once.
    const keepaliveMs = this.options.keepaliveMs ?? 0;
    if (keepaliveMs > 0 && !this.pingSent && performance.now() - this.lastHeard >= keepaliveMs) this.ping();
    const stream = new H2ClientStream(this, headerBlock, body, handler);
    if (this.streams.size >= this.peerMaxConcurrent) this.waiting.push(stream);
    else this.open(stream);
    return stream;
  }

  /** Ends the connection once its streams are done (GOAWAY, NO_ERROR); new requests are refused. */
  close(): void {
    if (this.closing || this.failed !== undefined) return;
    this.closing = true;
    this.options.onUnusable?.();
    this.endIfIdle();
  }

  /** Ends the connection now: open streams fail. */
  destroy(error?: Error): void {
    this.fail(error ?? new ConnectionError("the connection was destroyed", h2ErrorCodes.cancel));
  }

  /** @internal */
  resetStream(stream: H2ClientStream, code: number): void {
    if (stream.closed) return;
    if (stream.id === 0) {
      const at = this.waiting.indexOf(stream);
      if (at >= 0) this.waiting.splice(at, 1);
    } else {
      this.write(rstStream(stream.id, code));
    }
    this.closeStream(stream, { kind: "reset", code });
  }

  /** @internal */
  creditStream(stream: H2ClientStream, credit: number): void {
    if (stream.id !== 0 && !stream.closed) this.write(windowUpdate(stream.id, credit));
  }

  private open(stream: H2ClientStream): void {
    stream.sendWindow = this.peerInitialWindow;
    stream.id = this.nextStreamId;
    this.nextStreamId += 2;
    this.streams.set(stream.id, stream);
    this.writeHeaders(stream);
    this.sendBody(stream);
    if (this.nextStreamId > maxStreamId) this.options.onUnusable?.();
  }

  private writeHeaders(stream: H2ClientStream): void {
    const block = stream.headerBlock;
    const endStream = stream.body.length === 0 ? flags.endStream : 0;
    if (block.length <= this.peerMaxFrameSize) {
      this.write(frame(frameTypes.headers, flags.endHeaders | endStream, stream.id, block));
      return;
    }
    let at = 0;
    while (at < block.length) {
      const end = Math.min(block.length, at + this.peerMaxFrameSize);
      const last = end === block.length ? flags.endHeaders : 0;
      this.write(frame(at === 0 ? frameTypes.headers : frameTypes.continuation, at === 0 ? endStream | last : last, stream.id, block.subarray(at, end)));
      at = end;
    }
  }

  /** Sends what the windows allow of the stream's body. */
  private sendBody(stream: H2ClientStream): void {
    while (stream.bodyLeft > 0 && !stream.closed) {
      const room = Math.min(this.connectionSendWindow, stream.sendWindow, this.peerMaxFrameSize);
      if (room <= 0) {
        this.blocked.add(stream);
        return;
      }
      const { chunk, last } = stream.nextChunk(room);
      this.connectionSendWindow -= chunk.length;
      stream.sendWindow -= chunk.length;
      this.write(frame(frameTypes.data, last ? flags.endStream : 0, stream.id, chunk));
    }
    this.blocked.delete(stream);
  }

  private write(bytes: Buffer): void {
    if (this.socket.destroyed) return;
    // Held until the turn ends, with everything else written in it (once per turn is enough).
    if (this.socket.writableCorked === 0) holdWritesUntilTurnEnds(this.socket);
    this.socket.write(bytes);
  }

  private checkAlive(keepaliveMs: number): void {
    if (this.failed !== undefined || this.activeStreams === 0) return;
    const now = performance.now();
    // The server gets a whole period to answer from when the PING went out: one sent at once for a
    // call on a connection long silent must not be judged by the silence before it.
    if (this.pingSent && now - this.pingSentAt >= keepaliveMs) {
      this.fail(new ConnectionError(`the server did not answer a PING within ${keepaliveMs / 1000} s`, h2ErrorCodes.noError));
    } else if (!this.pingSent && now - this.lastHeard >= keepaliveMs) {
      this.ping();
    }
  }

  private ping(): void {
    this.pingSent = true;
    this.pingSentAt = performance.now();
    this.write(frame(frameTypes.ping, 0, 0, Buffer.alloc(8)));
  }

  private receive(chunk: Buffer): void {
    this.lastHeard = performance.now();
    this.pingSent = false;
    let buffer = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    try {
      buffer = readFrames(buffer, "the server", ourMaxFrameSize, this.stopped, this.onFrame);
    } catch (error) {
      this.fail(error instanceof HpackError ? new ConnectionError(error.message, h2ErrorCodes.compressionError) : (error as Error));
      return;
    }
    this.pending = buffer.length === 0 ? undefined : buffer;
  }

  private readonly stopped = () => this.failed !== undefined;

  private readonly onFrame = (type: number, frameFlags: number, streamId: number, payload: Buffer): void => {
    this.headerBlocks.check(type, streamId);
    switch (type) {
      case frameTypes.data:
        return this.onData(frameFlags, streamId, payload);
      case frameTypes.headers:
        return this.onHeaderBlock(this.headerBlocks.headers(frameFlags, streamId, payload));
      case frameTypes.continuation:
        return this.onHeaderBlock(this.headerBlocks.continuation(frameFlags, payload));
      case frameTypes.rstStream: {
        if (payload.length !== 4) throw new ConnectionError("the server sent a RST_STREAM of the wrong size", h2ErrorCodes.frameSizeError);
        const stream = this.streams.get(streamId);
        if (stream !== undefined) this.closeStream(stream, { kind: "reset", code: payload.readUInt32BE(0) });
        return;
      }
      case frameTypes.settings:
        return this.onSettings(frameFlags, streamId, payload);
      case frameTypes.pushPromise:
        throw new ConnectionError("the server pushed a stream though push is disabled", h2ErrorCodes.protocolError);
      case frameTypes.ping:
        if (payload.length !== 8) throw new ConnectionError("the server sent a PING of the wrong size", h2ErrorCodes.frameSizeError);
        if ((frameFlags & flags.ack) === 0) this.write(frame(frameTypes.ping, flags.ack, 0, payload));
        return;
      case frameTypes.goaway:
        return this.onGoaway(payload);
      case frameTypes.windowUpdate:
        return this.onWindowUpdate(streamId, payload);
      default:
        // PRIORITY and unknown frame types are ignored (RFC 9113 §4.1, §5.3.2).
        return;
    }
  };

  private onData(frameFlags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError("the server sent DATA on stream 0", h2ErrorCodes.protocolError);
    // Flow control counts the whole payload, padding included.
    this.connectionUnacknowledged += payload.length;
    if (this.connectionUnacknowledged >= maxWindow / 2) {
      this.write(windowUpdate(0, this.connectionUnacknowledged));
      this.connectionUnacknowledged = 0;
    }
    const data = (frameFlags & flags.padded) !== 0 ? unpad(payload) : payload;
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    if (data.length > 0) this.tell(stream, () => stream.handler.onData(data));
    if ((frameFlags & flags.endStream) !== 0) {
      this.closeStream(stream, undefined);
      return;
    }
    if (stream.closed) return;
    const credit = stream.received(payload.length);
    if (credit > 0) this.write(windowUpdate(stream.id, credit));
  }

  private onHeaderBlock(complete: HeaderBlock | undefined): void {
    if (complete === undefined) return;
    const { streamId, endStream, block } = complete;
    // Decoded even for a stream already gone: the decoder's table must follow the server's.
    const fields = this.decoder.decode(block);
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    // Informational (1xx) answers come before the response, and are skipped.
    if (!endStream && fields[0]?.[0] === ":status" && fields[0][1].startsWith("1")) return;
    this.tell(stream, () => stream.handler.onHeaders(fields, endStream));
    if (endStream) this.closeStream(stream, undefined);
  }

  private onSettings(frameFlags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError("the server sent SETTINGS on a stream", h2ErrorCodes.protocolError);
    if ((frameFlags & flags.ack) !== 0) return;
    const settings = readSettings(payload, "the server");
    if (settings.maxConcurrentStreams !== undefined) this.peerMaxConcurrent = settings.maxConcurrentStreams;
    if (settings.initialWindowSize !== undefined) {
      const change = settings.initialWindowSize - this.peerInitialWindow;
      this.peerInitialWindow = settings.initialWindowSize;
      for (const stream of this.streams.values()) stream.sendWindow += change;
    }
    if (settings.maxFrameSize !== undefined) this.peerMaxFrameSize = settings.maxFrameSize;
    this.write(frame(frameTypes.settings, flags.ack, 0, Buffer.alloc(0)));
    this.unblock();
    this.startWaiting();
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    const increment = readWindowIncrement(payload, streamId, "the server");
    if (streamId === 0) {
      this.connectionSendWindow = grownWindow(this.connectionSendWindow, increment, "the server");
      this.unblock();
      return;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    stream.sendWindow += increment;
    if (increment === 0 || stream.sendWindow > maxWindow) {
      this.resetStream(stream, h2ErrorCodes.flowControlError);
      return;
    }
    if (this.blocked.has(stream)) this.sendBody(stream);
  }

  private onGoaway(payload: Buffer): void {
    if (payload.length < 8) throw new ConnectionError("the server sent a GOAWAY too short", h2ErrorCodes.frameSizeError);
    const lastStreamId = payload.readUInt32BE(0) & 0x7fffffff;
    const code = payload.readUInt32BE(4);
    const wasUsable = this.usable;
    this.goingAway = true;
    if (wasUsable) this.options.onUnusable?.();
    const error = new Error(`the server is going away (GOAWAY, code 0x${code.toString(16)})`);
    for (const stream of [...this.streams.values()]) {
      if (stream.id > lastStreamId) this.closeStream(stream, { kind: "unprocessed", error });
    }
    for (const stream of this.waiting.splice(0)) this.closeStream(stream, { kind: "unprocessed", error });
    this.endIfIdle();
  }

  private unblock(): void {
    for (const stream of [...this.blocked]) {
      this.sendBody(stream);
      if (this.connectionSendWindow <= 0) return;
    }
  }

  private startWaiting(): void {
    while (this.waiting.length > 0 && this.streams.size < this.peerMaxConcurrent && this.usable) this.open(this.waiting.shift()!);
  }

  /** Runs a handler's callback; a handler that throws loses its stream, not the connection. */
  private tell(stream: H2ClientStream, callback: () => void): void {
    if (stream.closed) return;
    try {
      callback();
    } catch {
      this.resetStream(stream, h2ErrorCodes.internalError);
    }
  }

  private closeStream(stream: H2ClientStream, failure: StreamFailure | undefined): void {
    if (stream.closed) return;
    stream.closed = true;
    if (stream.id !== 0) this.streams.delete(stream.id);
    this.blocked.delete(stream);
    try {
      stream.handler.onClose(failure);
    } catch {
      // Nothing is left to tell.
    }
    this.startWaiting();
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.failed !== undefined || (!this.closing && !this.goingAway) || this.activeStreams > 0) return;
    this.write(goaway(0, h2ErrorCodes.noError, ""));
    this.failed = new ConnectionError("the connection was closed", h2ErrorCodes.noError);
    clearInterval(this.keepaliveTimer);
    this.socket.end();
  }

  private fail(error: Error): void {
    clearInterval(this.keepaliveTimer);
    if (this.failed !== undefined) {
      if (!this.socket.destroyed && !(error instanceof ConnectionError && error.code === h2ErrorCodes.noError)) this.socket.destroy();
      return;
    }
    const wasUsable = this.usable;
    this.failed = error;
    if (error instanceof ConnectionError && error.code !== h2ErrorCodes.noError && !this.socket.destroyed) {
      // Closed once the GOAWAY is out, without waiting for the server to close its side.
      this.socket.end(goaway(this.nextStreamId > 1 ? this.nextStreamId - 2 : 0, error.code, error.message), () => this.socket.destroy());
    } else if (!this.socket.destroyed) {
      this.socket.destroy();
    }
    if (wasUsable) this.options.onUnusable?.();
    for (const stream of this.waiting.splice(0)) this.closeStream(stream, { kind: "unprocessed", error });
    for (const stream of [...this.streams.values()]) this.closeStream(stream, { kind: "connection", error });
  }
}
