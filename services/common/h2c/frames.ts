/** HTTP/2 framing (RFC 9113 §4, §6) as the h2c client writes and reads it. */

/** HTTP/2 error codes (RFC 9113 §7). */
export const h2ErrorCodes = {
  noError: 0x0,
  protocolError: 0x1,
  internalError: 0x2,
  flowControlError: 0x3,
  settingsTimeout: 0x4,
  streamClosed: 0x5,
  frameSizeError: 0x6,
  refusedStream: 0x7,
  cancel: 0x8,
  compressionError: 0x9,
  connectError: 0xa,
  enhanceYourCalm: 0xb,
  inadequateSecurity: 0xc,
  http11Required: 0xd,
} as const;

export const frameTypes = { data: 0, headers: 1, priority: 2, rstStream: 3, settings: 4, pushPromise: 5, ping: 6, goaway: 7, windowUpdate: 8, continuation: 9 } as const;
export const flags = { endStream: 0x1, ack: 0x1, endHeaders: 0x4, padded: 0x8, priority: 0x20 } as const;
export const settingIds = { headerTableSize: 1, enablePush: 2, maxConcurrentStreams: 3, initialWindowSize: 4, maxFrameSize: 5, maxHeaderListSize: 6 } as const;

export const defaultWindow = 65_535;
export const maxWindow = 2 ** 31 - 1;

/** What every HTTP/2 connection opens with, from the client (RFC 9113 §3.4); its SETTINGS follow. */
export const clientPreface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** A SETTINGS frame of these [identifier, value] pairs. */
export function settingsFrame(settings: readonly (readonly [number, number])[]): Buffer {
  const payload = Buffer.allocUnsafe(settings.length * 6);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(frameTypes.settings, 0, 0, payload);
}

/** A frame: its 9-byte head, then `payload`. */
export function frame(type: number, frameFlags: number, streamId: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length);
  writeFrameHead(out, 0, payload.length, type, frameFlags, streamId);
  out.set(payload, 9);
  return out;
}

function writeFrameHead(out: Buffer, at: number, length: number, type: number, frameFlags: number, streamId: number): void {
  out[at] = length >>> 16;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = frameFlags;
  out.writeUInt32BE(streamId, at + 5);
}

export function rstStream(streamId: number, code: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(code, 0);
  return frame(frameTypes.rstStream, 0, streamId, payload);
}

/** A GOAWAY: the last stream the sender processed, an error code, and a message for debugging. */
export function goaway(lastStreamId: number, code: number, message: string): Buffer {
  const payload = Buffer.allocUnsafe(8 + Buffer.byteLength(message));
  payload.writeUInt32BE(lastStreamId, 0);
  payload.writeUInt32BE(code, 4);
  payload.write(message, 8);
  return frame(frameTypes.goaway, 0, 0, payload);
}

export function windowUpdate(streamId: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(13);
  writeFrameHead(out, 0, 4, frameTypes.windowUpdate, 0, streamId);
  out.writeUInt32BE(increment, 9);
  return out;
}

/** A connection-level failure: what the streams are told, and the code the GOAWAY carries. */
export class ConnectionError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

/** Who sent the frames being read, for error messages. */
export type Peer = "the server" | "the client";

/** A padded frame's payload less its pad length byte and padding. */
export function unpad(payload: Buffer, peer: Peer = "the server"): Buffer {
  if (payload.length < 1) throw new ConnectionError(`${peer} sent a padded frame without its pad length`, h2ErrorCodes.frameSizeError);
  const padding = payload[0]!;
  if (padding >= payload.length) throw new ConnectionError(`${peer} sent more padding than frame`, h2ErrorCodes.protocolError);
  return payload.subarray(1, payload.length - padding);
}

/**
 * Hands each whole frame at the start of `buffer` to `onFrame` (until `stopped()`), and returns the
 * rest: the start of a frame still to come. Throws a ConnectionError for a frame over `maxFrameSize`.
 */
export function readFrames(
  buffer: Buffer,
  peer: Peer,
  maxFrameSize: number,
  stopped: () => boolean,
  onFrame: (type: number, frameFlags: number, streamId: number, payload: Buffer) => void,
): Buffer {
  while (buffer.length >= 9 && !stopped()) {
    const length = (buffer[0]! << 16) | (buffer[1]! << 8) | buffer[2]!;
    if (length > maxFrameSize) throw new ConnectionError(`${peer} sent a frame of ${length} bytes, over ${maxFrameSize}`, h2ErrorCodes.frameSizeError);
    if (buffer.length < 9 + length) break;
    const type = buffer[3]!;
    const frameFlags = buffer[4]!;
    const streamId = buffer.readUInt32BE(5) & 0x7fffffff;
    const payload = buffer.subarray(9, 9 + length);
    buffer = buffer.subarray(9 + length);
    onFrame(type, frameFlags, streamId, payload);
  }
  return buffer;
}

/** A complete header block and the stream it is for. */
export interface HeaderBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly block: Buffer;
}

/** Header blocks as they arrive, in a HEADERS frame and any CONTINUATION frames after it. */
export class HeaderBlockReader {
  private partial: { streamId: number; endStream: boolean; chunks: Buffer[]; size: number } | undefined;

  constructor(
    private readonly peer: Peer,
    private readonly maxSize: number,
  ) {}

  /** Throws unless the frame may come now: while a block is open only its CONTINUATION may. */
  check(type: number, streamId: number): void {
    if (this.partial !== undefined && (type !== frameTypes.continuation || streamId !== this.partial.streamId)) {
      throw new ConnectionError(`${this.peer} interrupted a header block`, h2ErrorCodes.protocolError);
    }
  }

  /** A HEADERS frame: its block when complete, undefined when CONTINUATION frames are to follow. */
  headers(frameFlags: number, streamId: number, payload: Buffer): HeaderBlock | undefined {
    if (streamId === 0) throw new ConnectionError(`${this.peer} sent HEADERS on stream 0`, h2ErrorCodes.protocolError);
    let block = (frameFlags & flags.padded) !== 0 ? unpad(payload, this.peer) : payload;
    if ((frameFlags & flags.priority) !== 0) {
      if (block.length < 5) throw new ConnectionError(`${this.peer} sent a HEADERS frame too short for its priority`, h2ErrorCodes.frameSizeError);
      block = block.subarray(5);
    }
    const endStream = (frameFlags & flags.endStream) !== 0;
    if ((frameFlags & flags.endHeaders) !== 0) return { streamId, endStream, block };
    this.partial = { streamId, endStream, chunks: [Buffer.from(block)], size: block.length };
    return undefined;
  }

  /** A CONTINUATION frame: the block when this one completes it. */
  continuation(frameFlags: number, payload: Buffer): HeaderBlock | undefined {
    const partial = this.partial;
    if (partial === undefined) throw new ConnectionError(`${this.peer} sent CONTINUATION without HEADERS`, h2ErrorCodes.protocolError);
    // Each frame counts its head too: endless empty CONTINUATION frames are no cheaper than bytes.
    partial.size += 9 + payload.length;
    if (partial.size > this.maxSize) throw new ConnectionError(`${this.peer} sent a header block over ${this.maxSize} bytes`, h2ErrorCodes.enhanceYourCalm);
    partial.chunks.push(Buffer.from(payload));
    if ((frameFlags & flags.endHeaders) === 0) return undefined;
    this.partial = undefined;
    return { streamId: partial.streamId, endStream: partial.endStream, block: Buffer.concat(partial.chunks) };
  }
}

/** The SETTINGS of a peer that bind the side sending to it (others are left out). */
export interface PeerSettings {
  maxConcurrentStreams?: number;
  initialWindowSize?: number;
  maxFrameSize?: number;
}

/** A SETTINGS frame's values, checked as RFC 9113 §6.5.2 requires; throws a ConnectionError. */
export function readSettings(payload: Buffer, peer: Peer): PeerSettings {
  if (payload.length % 6 !== 0) throw new ConnectionError(`${peer} sent SETTINGS of the wrong size`, h2ErrorCodes.frameSizeError);
  const settings: PeerSettings = {};
  for (let at = 0; at < payload.length; at += 6) {
    const id = payload.readUInt16BE(at);
    const value = payload.readUInt32BE(at + 2);
    switch (id) {
      case settingIds.enablePush:
        if (value > 1) throw new ConnectionError(`${peer} set ENABLE_PUSH to ${value}`, h2ErrorCodes.protocolError);
        break;
      case settingIds.maxConcurrentStreams:
        settings.maxConcurrentStreams = value;
        break;
      case settingIds.initialWindowSize:
        if (value > maxWindow) throw new ConnectionError(`${peer} set a window over 2^31-1`, h2ErrorCodes.flowControlError);
        settings.initialWindowSize = value;
        break;
      case settingIds.maxFrameSize:
        if (value < 16_384 || value > 16_777_215) throw new ConnectionError(`${peer} set a frame size of ${value}`, h2ErrorCodes.protocolError);
        settings.maxFrameSize = value;
        break;
      default:
        // Header table size: both sides here encode without the table. Others do not bind the sender.
        break;
    }
  }
  return settings;
}

/**
 * A WINDOW_UPDATE's increment. Throws a ConnectionError for a frame of the wrong size, and for an
 * increment of 0 on the connection (a stream's 0 is a stream error, the caller's to answer).
 */
export function readWindowIncrement(payload: Buffer, streamId: number, peer: Peer): number {
  if (payload.length !== 4) throw new ConnectionError(`${peer} sent a WINDOW_UPDATE of the wrong size`, h2ErrorCodes.frameSizeError);
  const increment = payload.readUInt32BE(0) & 0x7fffffff;
  if (streamId === 0 && increment === 0) throw new ConnectionError(`${peer} sent a WINDOW_UPDATE of 0`, h2ErrorCodes.protocolError);
  return increment;
}

/** The connection's send window after `increment`; throws past 2^31-1 (RFC 9113 §6.9.1). */
export function grownWindow(window: number, increment: number, peer: Peer): number {
  if (window + increment > maxWindow) throw new ConnectionError(`${peer} overflowed the connection window`, h2ErrorCodes.flowControlError);
  return window + increment;
}
