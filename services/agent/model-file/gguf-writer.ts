import {
  GGML_TYPE_F32,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VERSION,
  GgufValueType,
  alignOffset,
} from "./gguf-format.js";

/** One metadata value, tagged with the GGUF type it is written as. */
export type GgufMetadataValue =
  | { type: "uint32"; value: number }
  | { type: "int32"; value: number }
  | { type: "float32"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "string[]"; value: readonly string[] }
  | { type: "float32[]"; value: readonly number[] | Float32Array }
  | { type: "int32[]"; value: readonly number[] | Int32Array };

/** An F32 tensor; `dims[0]` is the fastest-varying (input) dimension, as ggml orders them. */
export type GgufTensor = {
  name: string;
  dims: readonly number[];
  data: Float32Array;
};

/** Everything a GGUF file holds: ordered metadata key/values and tensors. */
export type GgufFileSpec = {
  metadata: ReadonlyArray<readonly [string, GgufMetadataValue]>;
  tensors: readonly GgufTensor[];
};

/** Appends little-endian primitives to a growing list of chunks. */
class ByteSink {
  readonly chunks: Buffer[] = [];
  length = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  u32(value: number): void {
    const chunk = Buffer.alloc(4);
    chunk.writeUInt32LE(value);
    this.push(chunk);
  }

  i32(value: number): void {
    const chunk = Buffer.alloc(4);
    chunk.writeInt32LE(value);
    this.push(chunk);
  }

  f32(value: number): void {
    const chunk = Buffer.alloc(4);
    chunk.writeFloatLE(value);
    this.push(chunk);
  }

  u64(value: number): void {
    const chunk = Buffer.alloc(8);
    chunk.writeBigUInt64LE(BigInt(value));
    this.push(chunk);
  }

  string(value: string): void {
    const bytes = Buffer.from(value, "utf8");
    this.u64(bytes.length);
    this.push(bytes);
  }

  padTo(alignment: number): void {
    const padding = alignOffset(this.length, alignment) - this.length;
    if (padding > 0) this.push(Buffer.alloc(padding));
  }
}

function writeArray<T>(sink: ByteSink, itemType: number, items: ArrayLike<T>, writeItem: (item: T) => void): void {
  sink.u32(GgufValueType.array);
  sink.u32(itemType);
  sink.u64(items.length);
  for (let index = 0; index < items.length; index++) writeItem(items[index] as T);
}

function writeValue(sink: ByteSink, entry: GgufMetadataValue): void {
  switch (entry.type) {
    case "uint32":
      sink.u32(GgufValueType.uint32);
      return sink.u32(entry.value);
    case "int32":
      sink.u32(GgufValueType.int32);
      return sink.i32(entry.value);
    case "float32":
      sink.u32(GgufValueType.float32);
      return sink.f32(entry.value);
    case "bool":
      sink.u32(GgufValueType.bool);
      return sink.push(Buffer.from([entry.value ? 1 : 0]));
    case "string":
      sink.u32(GgufValueType.string);
      return sink.string(entry.value);
    case "string[]":
      return writeArray(sink, GgufValueType.string, entry.value, (item) => sink.string(item));
    case "float32[]":
      return writeArray(sink, GgufValueType.float32, entry.value, (item) => sink.f32(item));
    case "int32[]":
      return writeArray(sink, GgufValueType.int32, entry.value, (item) => sink.i32(item));
  }
}

/**
 * Encodes a GGUF v3 file: header, metadata, tensor infos, padding, then the F32 tensor data with
 * every tensor aligned to 32 bytes from the start of the data section.
 */
export function encodeGguf(spec: GgufFileSpec): Buffer {
  const sink = new ByteSink();
  sink.u32(GGUF_MAGIC);
  sink.u32(GGUF_VERSION);
  sink.u64(spec.tensors.length);
  sink.u64(spec.metadata.length);
  for (const [key, value] of spec.metadata) {
    sink.string(key);
    writeValue(sink, value);
  }
  let dataOffset = 0;
  for (const tensor of spec.tensors) {
    const elements = tensor.dims.reduce((product, dim) => product * dim, 1);
    if (elements !== tensor.data.length) {
      throw new Error(`tensor ${tensor.name}: dims ${tensor.dims.join("x")} need ${elements} values, got ${tensor.data.length}`);
    }
    sink.string(tensor.name);
    sink.u32(tensor.dims.length);
    for (const dim of tensor.dims) sink.u64(dim);
    sink.u32(GGML_TYPE_F32);
    sink.u64(dataOffset);
    dataOffset = alignOffset(dataOffset + tensor.data.byteLength, GGUF_DEFAULT_ALIGNMENT);
  }
  sink.padTo(GGUF_DEFAULT_ALIGNMENT);
  for (const tensor of spec.tensors) {
    // Written value by value so the file is little-endian whatever the host's byte order.
    const bytes = Buffer.alloc(tensor.data.byteLength);
    tensor.data.forEach((value, index) => bytes.writeFloatLE(value, index * 4));
    sink.push(bytes);
    sink.padTo(GGUF_DEFAULT_ALIGNMENT);
  }
  return Buffer.concat(sink.chunks, sink.length);
}
