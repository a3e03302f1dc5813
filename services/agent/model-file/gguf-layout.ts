import type { FileHandle } from "node:fs/promises";
import { GGUF_MAGIC, GgufValueType } from "./gguf-format.js";
import { ModelFileError } from "./model-file-error.js";

/** Where a GGUF file's header sections lie, as found by walking their lengths. */
export type GgufLayout = {
  version: number;
  tensorCount: number;
  metadataCount: number;
  /** Byte after the last tensor info, before the alignment padding of the data section. */
  infoEnd: number;
};

// node-llama-cpp's reader trusts every length and count and reads zeros past the end of the file:
// on a hostile header it loops forever, allocates without bound or aborts Node (a read over 2 GiB).
// It also keeps the whole header in one buffer and every array item as a JS value. So a header goes
// to it only once its lengths fit the file and these limits; real models stay far below them
// (a header of a few MB, under 1M array items, a few thousand tensors).
const MAX_HEADER_BYTES = 64 << 20;
const MAX_VALUES = 4 << 20;
const MAX_TENSORS = 1 << 16;
// ggml's GGML_MAX_DIMS.
const MAX_TENSOR_DIMS = 4;
const WINDOW_BYTES = 1 << 20;

const SCALAR_SIZES: ReadonlyMap<number, number> = new Map([
  [GgufValueType.uint8, 1], [GgufValueType.int8, 1], [GgufValueType.bool, 1],
  [GgufValueType.uint16, 2], [GgufValueType.int16, 2],
  [GgufValueType.uint32, 4], [GgufValueType.int32, 4], [GgufValueType.float32, 4],
  [GgufValueType.uint64, 8], [GgufValueType.int64, 8], [GgufValueType.float64, 8],
]);

/** Sequential little-endian reads through a small window, bounded by the file and the header limit. */
class BoundedReader {
  position = 0;
  values = 0;
  private window = Buffer.alloc(0);
  private windowStart = 0;

  constructor(
    private readonly handle: FileHandle,
    readonly fileSize: number,
    readonly filePath: string,
  ) {}

  fail(problem: "truncated" | "corrupt", detail: string): never {
    throw new ModelFileError(this.filePath, problem, detail);
  }

  /** Throws unless `byteCount` more bytes exist in the file and within the header limit; `what` names the field. */
  requireBytes(byteCount: number, what: string): void {
    const end = this.position + byteCount;
    if (end > this.fileSize) {
      this.fail("truncated", `${what} at byte ${this.position} needs ${byteCount} bytes but the file ends at byte ${this.fileSize}`);
    }
    if (end > MAX_HEADER_BYTES) this.fail("corrupt", `${what} at byte ${this.position} would take the header past ${MAX_HEADER_BYTES >> 20} MiB`);
  }

  /** Counts values node-llama-cpp will hold as JS values (entries, array items). */
  addValues(count: number, what: string): void {
    this.values += count;
    if (this.values > MAX_VALUES) this.fail("corrupt", `${what} take the header past ${MAX_VALUES} values`);
  }

  skip(byteCount: number, what: string): void {
    this.requireBytes(byteCount, what);
    this.position += byteCount;
  }

  private async load(byteCount: number, what: string): Promise<number> {
    this.requireBytes(byteCount, what);
    const offset = this.position - this.windowStart;
    if (offset >= 0 && offset + byteCount <= this.window.length) return offset;
    const length = Math.min(Math.max(byteCount, WINDOW_BYTES), this.fileSize - this.position);
    const buffer = Buffer.alloc(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.handle.read(buffer, filled, length - filled, this.position + filled);
      if (bytesRead === 0) this.fail("truncated", `${what}: the file shrank while being read`);
      filled += bytesRead;
    }
    this.window = buffer;
    this.windowStart = this.position;
    return 0;
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
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) this.fail("corrupt", `${what} at byte ${this.position} is ${value}`);
    this.position += 8;
    return Number(value);
  }

  /** A length-prefixed string, decoded for error messages when short, else skipped (undefined). */
  async text(what: string): Promise<string | undefined> {
    const length = await this.u64(`length of ${what}`);
    if (length > 256) {
      this.skip(length, what);
      return undefined;
    }
    const offset = await this.load(length, what);
    this.position += length;
    return this.window.toString("utf8", offset, offset + length);
  }
}

async function readVersion(reader: BoundedReader): Promise<number> {
  const { filePath, fileSize } = reader;
  if (fileSize < 4) throw new ModelFileError(filePath, "not-gguf", `it is only ${fileSize} bytes long`);
  const magic = await reader.u32("magic");
  if (magic !== GGUF_MAGIC) {
    const start = Buffer.alloc(4);
    start.writeUInt32LE(magic);
    const hint = start.toString("latin1") === "vers" ? " (a Git LFS pointer? run `git lfs pull`)" : "";
    throw new ModelFileError(filePath, "not-gguf", `it starts with bytes ${start.toString("hex")}, not "GGUF"${hint}`);
  }
  const version = await reader.u32("version");
  if (version === 2 || version === 3) return version;
  if (version === 0x02000000 || version === 0x03000000) {
    throw new ModelFileError(filePath, "unsupported-version", "it is a big-endian GGUF file; llama.cpp here reads little-endian");
  }
  throw new ModelFileError(filePath, "unsupported-version", `version ${version}; llama.cpp reads GGUF v2 and v3`);
}

async function skipValue(reader: BoundedReader, type: number, what: string): Promise<void> {
  if (type === GgufValueType.string) return reader.skip(await reader.u64(`length of ${what}`), what);
  const size = SCALAR_SIZES.get(type);
  if (size !== undefined) return reader.skip(size, what);
  if (type !== GgufValueType.array) reader.fail("corrupt", `${what} has unknown value type ${type}`);
  const itemType = await reader.u32(`item type of ${what}`);
  const length = await reader.u64(`length of ${what}`);
  const itemSize = SCALAR_SIZES.get(itemType);
  // llama.cpp reads no arrays of arrays; refusing them keeps this walk flat.
  if (itemSize === undefined && itemType !== GgufValueType.string) reader.fail("corrupt", `${what} has unsupported item type ${itemType}`);
  // Each item takes at least this many bytes, so a corrupt length fails here, before any loop.
  reader.requireBytes(length * (itemSize ?? 8), `${length} items of ${what}`);
  reader.addValues(length, `${length} items of ${what}`);
  if (itemSize !== undefined) return reader.skip(length * itemSize, what);
  for (let index = 0; index < length; index++) reader.skip(await reader.u64(`length of ${what}[${index}]`), `${what}[${index}]`);
}

/**
 * Walks the header, metadata and tensor infos of a GGUF file, checking every length and count
 * against the file size and the limits above without decoding values, so that node-llama-cpp's
 * reader can then parse it safely. Throws ModelFileError: not GGUF, unsupported version,
 * truncated, or corrupt (absurd counts, unknown types, too many dimensions, an oversized header).
 */
export async function checkGgufLayout(handle: FileHandle, fileSize: number, filePath: string): Promise<GgufLayout> {
  const reader = new BoundedReader(handle, fileSize, filePath);
  const version = await readVersion(reader);
  const tensorCount = await reader.u64("tensor count");
  const metadataCount = await reader.u64("metadata count");
  // Each key/value takes at least 13 bytes (key length, type, one byte).
  reader.requireBytes(metadataCount * 13, `${metadataCount} metadata entries`);
  reader.addValues(metadataCount, `${metadataCount} metadata entries`);
  for (let index = 0; index < metadataCount; index++) {
    const key = (await reader.text(`metadata key #${index}`)) ?? `metadata key #${index}`;
    await skipValue(reader, await reader.u32(`type of ${key}`), key);
  }
  // Each tensor info takes at least 24 bytes (name length, n_dims, type, offset).
  reader.requireBytes(tensorCount * 24, `${tensorCount} tensor infos`);
  if (tensorCount > MAX_TENSORS) reader.fail("corrupt", `it claims ${tensorCount} tensors (more than ${MAX_TENSORS})`);
  for (let index = 0; index < tensorCount; index++) {
    const name = (await reader.text(`name of tensor #${index}`)) ?? `#${index}`;
    const dimensionCount = await reader.u32(`dimension count of tensor ${name}`);
    if (dimensionCount > MAX_TENSOR_DIMS) {
      reader.fail("corrupt", `tensor ${name} has ${dimensionCount} dimensions (ggml allows ${MAX_TENSOR_DIMS})`);
    }
    // Dimensions (u64 each), type (u32) and offset (u64).
    reader.skip(dimensionCount * 8 + 12, `dimensions, type and offset of tensor ${name}`);
  }
  return { version, tensorCount, metadataCount, infoEnd: reader.position };
}
