import type { FileHandle } from "node:fs/promises";
import { GGUF_SCALAR_SIZES, GgufValueType } from "./gguf-format.js";
import { ModelFileError } from "./model-file-error.js";

// Reads go through a window of at most this many bytes: metadata of multi-GB models is parsed
// without holding more than one window (plus the few values we keep) in memory.
const WINDOW_BYTES = 1 << 20;
// Longer strings are skipped, not kept (chat templates are tens of KB; a 1 MiB one is corrupt or useless).
const MAX_KEPT_STRING_BYTES = 1 << 20;
// Numeric arrays up to this length are kept (per-layer head counts); longer ones are only counted.
const MAX_KEPT_ARRAY_LENGTH = 4096;

/** A metadata array, summarised: its item type, its length and, when short and numeric, its items. */
export type GgufArraySummary = { itemType: number; length: number; numbers?: number[] };

/** A metadata value as the validator keeps it. */
export type GgufValue = number | boolean | string | GgufArraySummary;

/** Sequential little-endian reads over a file, bounded by its size, through a small window. */
export class BoundedGgufReader {
  position = 0;
  private window = Buffer.alloc(0);
  private windowStart = 0;

  constructor(
    private readonly handle: FileHandle,
    readonly fileSize: number,
    readonly filePath: string,
  ) {}

  get remaining(): number {
    return this.fileSize - this.position;
  }

  /** Throws the "truncated" error unless `byteCount` more bytes exist; `what` names the field. */
  requireBytes(byteCount: number, what: string): void {
    if (byteCount > this.remaining) {
      throw new ModelFileError(this.filePath, "truncated",
        `${what} at byte ${this.position} needs ${byteCount} bytes but the file ends at byte ${this.fileSize}`);
    }
  }

  private async load(byteCount: number, what: string): Promise<number> {
    this.requireBytes(byteCount, what);
    const offset = this.position - this.windowStart;
    if (offset >= 0 && offset + byteCount <= this.window.length) return offset;
    const length = Math.min(Math.max(byteCount, WINDOW_BYTES), this.remaining);
    const buffer = Buffer.alloc(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.handle.read(buffer, filled, length - filled, this.position + filled);
      if (bytesRead === 0) throw new ModelFileError(this.filePath, "truncated", `${what}: the file shrank while being read`);
      filled += bytesRead;
    }
    this.window = buffer;
    this.windowStart = this.position;
    return 0;
  }

  skip(byteCount: number, what: string): void {
    this.requireBytes(byteCount, what);
    this.position += byteCount;
  }

  async u32(what: string): Promise<number> {
    const offset = await this.load(4, what);
    this.position += 4;
    return this.window.readUInt32LE(offset);
  }

  /** A u64 as a number; a value past 2^53 is no length or count any real file has. */
  async u64(what: string): Promise<number> {
    const offset = await this.load(8, what);
    const value = this.window.readBigUInt64LE(offset);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ModelFileError(this.filePath, "corrupt", `${what} at byte ${this.position} is ${value}`);
    }
    this.position += 8;
    return Number(value);
  }

  async scalar(type: number, what: string): Promise<number | boolean> {
    const size = GGUF_SCALAR_SIZES.get(type) ?? 0;
    const offset = await this.load(size, what);
    this.position += size;
    const window = this.window;
    switch (type) {
      case GgufValueType.uint8: return window.readUInt8(offset);
      case GgufValueType.int8: return window.readInt8(offset);
      case GgufValueType.uint16: return window.readUInt16LE(offset);
      case GgufValueType.int16: return window.readInt16LE(offset);
      case GgufValueType.uint32: return window.readUInt32LE(offset);
      case GgufValueType.int32: return window.readInt32LE(offset);
      case GgufValueType.float32: return window.readFloatLE(offset);
      case GgufValueType.bool: return window.readUInt8(offset) !== 0;
      case GgufValueType.uint64: return Number(window.readBigUInt64LE(offset));
      case GgufValueType.int64: return Number(window.readBigInt64LE(offset));
      default: return window.readDoubleLE(offset);
    }
  }

  /** A length-prefixed UTF-8 string, or undefined (skipped) when longer than `maxBytes`. */
  async string(what: string, maxBytes = MAX_KEPT_STRING_BYTES): Promise<string | undefined> {
    const length = await this.u64(`length of ${what}`);
    if (length > maxBytes) {
      this.skip(length, what);
      return undefined;
    }
    const offset = await this.load(length, what);
    this.position += length;
    return this.window.toString("utf8", offset, offset + length);
  }

  /** One metadata value of `type`; arrays are summarised, over-long strings skipped (undefined). */
  async value(type: number, what: string, depth = 0): Promise<GgufValue | undefined> {
    if (type === GgufValueType.string) return this.string(what);
    if (type !== GgufValueType.array) {
      if (!GGUF_SCALAR_SIZES.has(type)) throw new ModelFileError(this.filePath, "corrupt", `${what} has unknown value type ${type}`);
      return this.scalar(type, what);
    }
    // GGUF allows arrays of arrays; nothing real nests deeper than this, and a crafted file must not overflow the stack.
    if (depth > 4) throw new ModelFileError(this.filePath, "corrupt", `${what} nests arrays more than 4 deep`);
    const itemType = await this.u32(`item type of ${what}`);
    const length = await this.u64(`length of ${what}`);
    // Each item takes at least this many bytes, so a corrupt length fails here, before any loop.
    const minimumItemBytes = GGUF_SCALAR_SIZES.get(itemType) ?? (itemType === GgufValueType.string ? 8 : 12);
    this.requireBytes(length * minimumItemBytes, `${length} items of ${what}`);
    const itemSize = GGUF_SCALAR_SIZES.get(itemType);
    if (itemSize !== undefined && itemType !== GgufValueType.bool && length <= MAX_KEPT_ARRAY_LENGTH) {
      const numbers: number[] = [];
      for (let index = 0; index < length; index++) numbers.push(Number(await this.scalar(itemType, what)));
      return { itemType, length, numbers };
    }
    if (itemSize !== undefined) this.skip(length * itemSize, what);
    else if (itemType === GgufValueType.string) {
      for (let index = 0; index < length; index++) this.skip(await this.u64(`length of ${what}[${index}]`), what);
    } else if (itemType === GgufValueType.array) {
      for (let index = 0; index < length; index++) await this.value(GgufValueType.array, `${what}[${index}]`, depth + 1);
    } else throw new ModelFileError(this.filePath, "corrupt", `${what} has unknown item type ${itemType}`);
    return { itemType, length };
  }
}
