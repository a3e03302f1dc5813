import type net from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { serveCall, type FastMethods } from "../grpc-fast-path.js";
import { holdWritesUntilTurnEnds } from "../turn-batched-writes.js";
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
import { HpackDecoder, HpackError, type HeaderPair } from "./hpack.js";
import { H2ServerStream, ourStreamWindow, type ServerStreamConnection } from "./h2-server-stream.js";

/**
 * The server side of one HTTP/2 connection from IIR's own client (the facade's calls to the
 * router: Chat and ChatStream in binary gRPC), serving them on the gRPC fast path. The router hands
 * a connection here when its client preface's SETTINGS carry `iirClientSetting`; every other HTTP/2
 * client gets node:http2's server. Why a server of our own: node's HTTP/2 server (nghttp2 and its
 * compatibility layer) was ~16% of the router's time under streamed load, and it sends a call's
 * trailers in a write of their own, after its DATA; the facade then wrote each streamed answer to
 * its client twice. Here every frame of a turn of the event loop, any stream's, leaves in one write.
 *
 * What it does: the preface, SETTINGS both ways, flow control both ways, HEADERS and CONTINUATION
 * (HPACK decoding with the dynamic table; answers are encoded without indexing), DATA, RST_STREAM
 * (a reset cancels the call), PING, GOAWAY both ways, and a limit of concurrent streams. Calls to
 * anything the fast path does not serve are answered UNIMPLEMENTED.
 */

const preface = clientPreface;
/** Largest frame we accept (the protocol's default; we announce no more). */
const ourMaxFrameSize = 16_384;
/** Largest header block we accept across CONTINUATION frames, and the decoded list's limit. */
const maxHeaderBlock = 256 * 1024;
const maxConcurrentStreams = 1000;
/**
 * Bytes waiting to go out to a client that does not read them, past which the connection is given
 * up: a client's streams wait on the socket's room (and on window), so only a flood of what the
 * server answers unasked (PING and SETTINGS acks, refusals) could pile up this much.
 */
const maxBuffered = 16 * 1024 * 1024;

/**
 * The SETTINGS identifier with which IIR's h2c client marks its connections (value 1), so the
 * router can tell them apart from other gRPC clients. Peers ignore identifiers they do not know
 * (RFC 9113 §6.5.2), so any other server takes the connection as usual.
 */
export const iirClientSetting = 0x4949;

/**
 * Whether `bytes` (the start of a connection) holds the client preface and a whole SETTINGS frame
 * after it; then whether that frame carries `iirClientSetting` = 1. Undefined: not enough bytes yet.
 */
export function isIirClientPreface(bytes: Buffer): boolean | undefined {
  if (bytes.length < preface.length + 9) return undefined;
  if (!bytes.subarray(0, preface.length).equals(preface)) return false;
  const at = preface.length;
  const length = (bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!;
  if (bytes[at + 3] !== frameTypes.settings || length % 6 !== 0 || length > ourMaxFrameSize) return false;
  if (bytes.length < at + 9 + length) return undefined;
  for (let setting = at + 9; setting < at + 9 + length; setting += 6) {
    if (bytes.readUInt16BE(setting) === iirClientSetting && bytes.readUInt32BE(setting + 2) === 1) return true;
  }
  return false;
}

function openingBytes(): Buffer {
  const settings = settingsFrame([[settingIds.maxConcurrentStreams, maxConcurrentStreams], [settingIds.initialWindowSize, ourStreamWindow], [settingIds.maxHeaderListSize, maxHeaderBlock]]);
  return Buffer.concat([settings, windowUpdate(0, maxWindow - defaultWindow)]);
}

export interface H2ServerConnectionOptions {
  /** Called once when the connection is over. */
  onClose?: () => void;
}

export class H2ServerConnection implements ServerStreamConnection {
  private readonly decoder = new HpackDecoder(4096, maxHeaderBlock);
  private readonly streams = new Map<number, H2ServerStream>();
  /** Streams with DATA (or trailers behind it) waiting for window. */
  private readonly blocked = new Set<H2ServerStream>();
  /** Waiting for the socket to drain. */
  private drainWaiters: (() => void)[] = [];
  private pending: Buffer | undefined;
  private prefaceSeen = false;
  private settingsSeen = false;
  private readonly headerBlocks = new HeaderBlockReader("the client", maxHeaderBlock);
  private lastStreamId = 0;
  /** Calls whose handler has not finished. */
  private running = 0;
  private connectionSendWindow = defaultWindow;
  private connectionUnacknowledged = 0;
  peerMaxFrameSize = 16_384;
  private peerInitialWindow = defaultWindow;
  private goingAway = false;
  private closed = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly methods: FastMethods,
    private readonly options: H2ServerConnectionOptions = {},
  ) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("drain", () => {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const resolve of waiters) resolve();
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.shutDown());
    this.write(openingBytes());
    socket.resume();
  }

  /** Stops taking streams (GOAWAY); the connection ends once those open are answered. */
  close(): void {
    if (this.closed || this.goingAway) return;
    this.goingAway = true;
    this.write(goaway(this.lastStreamId, h2ErrorCodes.noError, ""));
    this.endIfIdle();
  }

  /** Writes `bytes` with everything else written in this turn of the event loop. */
  write(bytes: Buffer): void {
    if (this.socket.destroyed || this.closed) return;
    if (this.socket.writableLength > maxBuffered) {
      this.fail(new ConnectionError("the client does not read what it is sent", h2ErrorCodes.enhanceYourCalm));
      return;
    }
    if (this.socket.writableCorked === 0) holdWritesUntilTurnEnds(this.socket);
    this.socket.write(bytes);
  }

  /** Resolves once the socket has room again (at once when it has). */
  whenWritable(): Promise<void> | undefined {
    if (!this.socket.writableNeedDrain || this.socket.destroyed) return undefined;
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** The window a stream may send in now: its own and the connection's. */
  sendable(stream: H2ServerStream): number {
    return Math.min(stream.sendWindow, this.connectionSendWindow);
  }

  sent(bytes: number): void {
    this.connectionSendWindow -= bytes;
  }

  block(stream: H2ServerStream): void {
    this.blocked.add(stream);
  }

  /** The stream is done on both sides (or reset): it is forgotten. */
  forget(stream: H2ServerStream): void {
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    this.endIfIdle();
  }

  private receive(chunk: Buffer): void {
    // Closing or closed: nothing more is read (nor kept).
    if (this.closed) {
      this.pending = undefined;
      return;
    }
    let buffer = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    try {
      if (!this.prefaceSeen) {
        if (buffer.length < preface.length) {
          if (!preface.subarray(0, buffer.length).equals(buffer)) throw new ConnectionError("the client preface is wrong", h2ErrorCodes.protocolError);
          this.pending = buffer;
          return;
        }
        if (!buffer.subarray(0, preface.length).equals(preface)) throw new ConnectionError("the client preface is wrong", h2ErrorCodes.protocolError);
        this.prefaceSeen = true;
        buffer = buffer.subarray(preface.length);
      }
      buffer = readFrames(buffer, "the client", ourMaxFrameSize, this.stopped, this.onFrame);
    } catch (error) {
      this.fail(error instanceof HpackError ? new ConnectionError(error.message, h2ErrorCodes.compressionError) : error instanceof ConnectionError ? error : new ConnectionError("internal error", h2ErrorCodes.internalError));
      return;
    }
    this.pending = buffer.length === 0 ? undefined : buffer;
  }

  private readonly stopped = () => this.closed;

  private readonly onFrame = (type: number, frameFlags: number, streamId: number, payload: Buffer): void => {
    if (!this.settingsSeen && type !== frameTypes.settings) throw new ConnectionError("the client preface did not start with SETTINGS", h2ErrorCodes.protocolError);
    this.headerBlocks.check(type, streamId);
    switch (type) {
      case frameTypes.data:
        return this.onData(frameFlags, streamId, payload);
      case frameTypes.headers:
        return this.onHeaderBlock(this.headerBlocks.headers(frameFlags, streamId, payload));
      case frameTypes.continuation:
        return this.onHeaderBlock(this.headerBlocks.continuation(frameFlags, payload));
      case frameTypes.rstStream: {
        if (streamId === 0) throw new ConnectionError("the client sent RST_STREAM on stream 0", h2ErrorCodes.protocolError);
        if (payload.length !== 4) throw new ConnectionError("the client sent a RST_STREAM of the wrong size", h2ErrorCodes.frameSizeError);
        if (streamId > this.lastStreamId) throw new ConnectionError("the client reset a stream it did not open", h2ErrorCodes.protocolError);
        this.streams.get(streamId)?.reset(false);
        return;
      }
      case frameTypes.settings:
        return this.onSettings(frameFlags, streamId, payload);
      case frameTypes.pushPromise:
        throw new ConnectionError("a client may not push", h2ErrorCodes.protocolError);
      case frameTypes.ping:
        if (streamId !== 0) throw new ConnectionError("the client sent PING on a stream", h2ErrorCodes.protocolError);
        if (payload.length !== 8) throw new ConnectionError("the client sent a PING of the wrong size", h2ErrorCodes.frameSizeError);
        if ((frameFlags & flags.ack) === 0) this.write(frame(frameTypes.ping, flags.ack, 0, payload));
        return;
      case frameTypes.goaway:
        if (payload.length < 8) throw new ConnectionError("the client sent a GOAWAY too short", h2ErrorCodes.frameSizeError);
        this.goingAway = true;
        this.endIfIdle();
        return;
      case frameTypes.windowUpdate:
        return this.onWindowUpdate(streamId, payload);
      default:
        // PRIORITY and unknown frame types are ignored (RFC 9113 §4.1, §5.3.2).
        return;
    }
  };

  private onData(frameFlags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError("the client sent DATA on stream 0", h2ErrorCodes.protocolError);
    if (streamId > this.lastStreamId) throw new ConnectionError("the client sent DATA on a stream it did not open", h2ErrorCodes.protocolError);
    // Flow control counts the whole payload, padding included; every byte read is credit back.
    this.connectionUnacknowledged += payload.length;
    if (this.connectionUnacknowledged >= maxWindow / 2) {
      this.write(windowUpdate(0, this.connectionUnacknowledged));
      this.connectionUnacknowledged = 0;
    }
    const stream = this.streams.get(streamId);
    // A stream already answered and forgotten (or reset): its late bytes are dropped.
    if (stream === undefined) return;
    const data = (frameFlags & flags.padded) !== 0 ? unpad(payload, "the client") : payload;
    stream.received(data, payload.length, (frameFlags & flags.endStream) !== 0);
  }

  private onHeaderBlock(complete: HeaderBlock | undefined): void {
    if (complete === undefined) return;
    const { streamId, endStream, block } = complete;
    // Decoded whatever becomes of it: the decoder's table must follow the client's.
    const fields = this.decoder.decode(block);
    if (streamId <= this.lastStreamId) {
      // Trailers of a request (they must end it), or the late headers of a stream already gone.
      const stream = this.streams.get(streamId);
      if (stream === undefined) return;
      if (!endStream) throw new ConnectionError("the client sent a second header block that does not end its stream", h2ErrorCodes.protocolError);
      stream.received(Buffer.alloc(0), 0, true);
      return;
    }
    if (streamId % 2 === 0) throw new ConnectionError("the client opened an even-numbered stream", h2ErrorCodes.protocolError);
    this.lastStreamId = streamId;
    if (this.goingAway) {
      this.write(rstStream(streamId, h2ErrorCodes.refusedStream));
      return;
    }
    // Calls count until their handler is done: a stream reset at once must not make room for more.
    if (this.streams.size >= maxConcurrentStreams || this.running >= maxConcurrentStreams) {
      this.write(rstStream(streamId, h2ErrorCodes.refusedStream));
      return;
    }
    let method: string | undefined;
    let path: string | undefined;
    let contentType: string | undefined;
    let encoding: string | undefined;
    const headers: HeaderPair[] = [];
    for (const field of fields) {
      const [name, value] = field;
      if (name.charCodeAt(0) === 0x3a) {
        if (name === ":method") method = value;
        else if (name === ":path") path = value;
        continue;
      }
      if (name === "content-type") contentType = value;
      else if (name === "grpc-encoding") encoding = value;
      headers.push(field);
    }
    const stream = new H2ServerStream(this, streamId, headers, this.peerInitialWindow, this.methods.readMaxBytes);
    this.streams.set(streamId, stream);
    if (endStream) stream.received(Buffer.alloc(0), 0, true);
    const spec = this.methods.find(method, path, contentType, encoding);
    if (spec === undefined) {
      stream.refuse(new ConnectError(`${String(method)} ${String(path)} (${String(contentType)}) is not served on this connection`, Code.Unimplemented));
      return;
    }
    this.running++;
    serveCall(spec, stream)
      .catch(() => stream.reset(true, h2ErrorCodes.internalError))
      .finally(() => this.running--);
  }

  private onSettings(frameFlags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError("the client sent SETTINGS on a stream", h2ErrorCodes.protocolError);
    if ((frameFlags & flags.ack) !== 0) {
      if (payload.length !== 0) throw new ConnectionError("the client sent a SETTINGS ack with a payload", h2ErrorCodes.frameSizeError);
      return;
    }
    this.settingsSeen = true;
    const settings = readSettings(payload, "the client");
    if (settings.initialWindowSize !== undefined) {
      const change = settings.initialWindowSize - this.peerInitialWindow;
      this.peerInitialWindow = settings.initialWindowSize;
      for (const stream of this.streams.values()) {
        stream.sendWindow += change;
        if (stream.sendWindow > maxWindow) throw new ConnectionError("the client's new initial window overflowed a stream's", h2ErrorCodes.flowControlError);
      }
    }
    if (settings.maxFrameSize !== undefined) this.peerMaxFrameSize = settings.maxFrameSize;
    this.write(frame(frameTypes.settings, flags.ack, 0, Buffer.alloc(0)));
    this.unblock();
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    const increment = readWindowIncrement(payload, streamId, "the client");
    if (streamId === 0) {
      this.connectionSendWindow = grownWindow(this.connectionSendWindow, increment, "the client");
      this.unblock();
      return;
    }
    if (streamId > this.lastStreamId) throw new ConnectionError("the client sent WINDOW_UPDATE for a stream it did not open", h2ErrorCodes.protocolError);
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    if (increment === 0) {
      stream.reset(true, h2ErrorCodes.protocolError);
      return;
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > maxWindow) {
      stream.reset(true, h2ErrorCodes.flowControlError);
      return;
    }
    if (this.blocked.has(stream)) {
      this.blocked.delete(stream);
      stream.flush();
    }
  }

  private unblock(): void {
    for (const stream of [...this.blocked]) {
      if (this.connectionSendWindow <= 0) return;
      this.blocked.delete(stream);
      stream.flush();
    }
  }

  private endIfIdle(): void {
    if (this.goingAway && this.streams.size === 0 && !this.closed) {
      this.closed = true;
      this.socket.end();
      // A client that keeps its side open does not keep the socket.
      setTimeout(() => this.socket.destroy(), 1000).unref();
    }
  }

  private fail(error: ConnectionError): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.socket.destroyed) this.socket.end(goaway(this.lastStreamId, error.code, error.message));
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.shutDown();
  }

  /** The connection is over: every stream's client is gone. */
  private shutDown(): void {
    this.closed = true;
    for (const stream of [...this.streams.values()]) stream.reset(false);
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
    const onClose = this.options.onClose;
    this.options.onClose = undefined;
    onClose?.();
  }
}
