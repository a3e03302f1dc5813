/**
 * The protobuf wire format's pieces that the hand-written codecs share (chat-stream-codec.ts,
 * chat-request-codec.ts): varints as protobuf-es writes them, and a reader that answers undefined
 * wherever protobuf-es might read differently, so that its caller can hand the bytes to protobuf-es.
 */

export const isInt32 = (value: unknown): value is number => typeof value === "number" && Number.isInteger(value) && value >= -0x80000000 && value <= 0x7fffffff;

/** Bytes of a varint for a number below 2^32, or of a negative int32 (10: sign-extended to 64 bits). */
export const varintSize = (value: number): number => (value < 0 ? 10 : value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5);

/** Bytes of a length-delimited string's length prefix and UTF-8 body. */
export function stringSize(value: string): number {
  const length = Buffer.byteLength(value);
  return varintSize(length) + length;
}

/** Writes a varint: a non-negative number below 2^32, or a negative int32 as its 64-bit two's complement. */
export function writeVarint(out: Buffer, at: number, value: number): number {
  if (value < 0) {
    let low = value >>> 0;
    for (let i = 0; i < 4; i++) {
      out[at++] = (low & 0x7f) | 0x80;
      low >>>= 7;
    }
    // Bits 28–31 of the low word, then the high word's ones.
    out[at++] = (low & 0x0f) | 0xf0;
    for (let i = 0; i < 4; i++) out[at++] = 0xff;
    out[at++] = 0x01;
    return at;
  }
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[at++] = value;
  return at;
}

/** Writes a string field (tag, length, UTF-8), or nothing for an empty one (proto3's default). */
export function writeStringField(out: Buffer, at: number, tag: number, value: string | undefined): number {
  if (value === undefined || value === "") return at;
  out[at++] = tag;
  return writeStringBody(out, at, value);
}

/** Writes a string's length and UTF-8 bytes. */
export function writeStringBody(out: Buffer, at: number, value: string): number {
  const length = Buffer.byteLength(value);
  at = writeVarint(out, at, length);
  return at + out.write(value, at, length, "utf8");
}

/** Reads varints, lengths and strings; every method answers undefined at input it does not read as protobuf-es would. */
export class WireReader {
  at: number;
  protected readonly buffer: Buffer;
  /** Where the message read ends: `bytes` may hold more (the reader reads it in place). */
  protected readonly end: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.at = start;
    this.end = end;
  }

  /** A length-delimited field's length: where it ends, if within `end`. */
  length(end: number): number | undefined {
    const length = this.uint32(end);
    if (length === undefined || this.at + length > end) return undefined;
    return this.at + length;
  }

  /** A varint of at most 5 bytes, as an unsigned 32-bit number. */
  uint32(end: number): number | undefined {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.at >= end) return undefined;
      const byte = this.buffer[this.at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value > 0xffffffff ? undefined : value;
    }
    return undefined;
  }

  /** An int32: a varint of at most 5 bytes, or a negative one sign-extended to 10. */
  int32(end: number): number | undefined {
    const start = this.at;
    const value = this.uint32(end);
    if (value !== undefined) return value | 0;
    // A negative int32: 4 bytes of 7 bits, a 5th with bits 28–31 and the high word's ones, 4 × 0xff, 0x01.
    this.at = start;
    if (start + 10 > end) return undefined;
    const bytes = this.buffer;
    for (let i = 0; i < 4; i++) if (bytes[start + i]! < 0x80) return undefined;
    if ((bytes[start + 4]! & 0xf0) !== 0xf0) return undefined;
    for (let i = 5; i < 9; i++) if (bytes[start + i] !== 0xff) return undefined;
    if (bytes[start + 9] !== 0x01) return undefined;
    let low = bytes[start + 4]! & 0x0f;
    for (let i = 3; i >= 0; i--) low = low * 128 + (bytes[start + i]! & 0x7f);
    this.at = start + 10;
    return low | 0;
  }

  /** A length-delimited UTF-8 string. */
  string(end: number): string | undefined {
    const stringEnd = this.length(end);
    if (stringEnd === undefined) return undefined;
    const text = this.buffer.toString("utf8", this.at, stringEnd);
    this.at = stringEnd;
    // Invalid UTF-8 became U+FFFD here, where protobuf-es (a fatal TextDecoder) throws: its call.
    if (text.includes("\uFFFD")) return undefined;
    // TextDecoder also drops a leading byte order mark.
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }
}
