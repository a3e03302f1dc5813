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

/** A padded frame's payload less its pad length byte and padding. */
export function unpad(payload: Buffer): Buffer {
  if (payload.length < 1) throw new ConnectionError("the server sent a padded frame without its pad length", h2ErrorCodes.frameSizeError);
  const padding = payload[0]!;
  if (padding >= payload.length) throw new ConnectionError("the server sent more padding than frame", h2ErrorCodes.protocolError);
  return payload.subarray(1, payload.length - padding);
}
