/** Constants of the GGUF file format (v3, little-endian), shared by the writer and the validator. */

/** "GGUF" read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;

/** The GGUF version we write; the validator also accepts 2 (same layout, u64 counts). */
export const GGUF_VERSION = 3;

/** Default alignment of the tensor data section and of each tensor in it (`general.alignment`). */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Type ids of metadata values, as the GGUF spec numbers them. */
export const GgufValueType = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

/** Byte width of each fixed-size metadata value type (strings and arrays are variable). */
export const GGUF_SCALAR_SIZES: ReadonlyMap<number, number> = new Map([
  [GgufValueType.uint8, 1],
  [GgufValueType.int8, 1],
  [GgufValueType.uint16, 2],
  [GgufValueType.int16, 2],
  [GgufValueType.uint32, 4],
  [GgufValueType.int32, 4],
  [GgufValueType.float32, 4],
  [GgufValueType.bool, 1],
  [GgufValueType.uint64, 8],
  [GgufValueType.int64, 8],
  [GgufValueType.float64, 8],
]);

/** ggml tensor type id of plain 32-bit floats, the only type our writer emits. */
export const GGML_TYPE_F32 = 0;

/**
 * Block layout of the ggml tensor types we can size: elements per block and bytes per block
 * (from ggml's type traits). Types not listed are skipped by the truncation check.
 */
export const GGML_TYPE_BLOCKS: ReadonlyMap<number, { elements: number; bytes: number; name: string }> = new Map([
  [0, { elements: 1, bytes: 4, name: "F32" }],
  [1, { elements: 1, bytes: 2, name: "F16" }],
  [2, { elements: 32, bytes: 18, name: "Q4_0" }],
  [3, { elements: 32, bytes: 20, name: "Q4_1" }],
  [6, { elements: 32, bytes: 22, name: "Q5_0" }],
  [7, { elements: 32, bytes: 24, name: "Q5_1" }],
  [8, { elements: 32, bytes: 34, name: "Q8_0" }],
  [9, { elements: 32, bytes: 36, name: "Q8_1" }],
  [10, { elements: 256, bytes: 84, name: "Q2_K" }],
  [11, { elements: 256, bytes: 110, name: "Q3_K" }],
  [12, { elements: 256, bytes: 144, name: "Q4_K" }],
  [13, { elements: 256, bytes: 176, name: "Q5_K" }],
  [14, { elements: 256, bytes: 210, name: "Q6_K" }],
  [15, { elements: 256, bytes: 292, name: "Q8_K" }],
  [24, { elements: 1, bytes: 1, name: "I8" }],
  [25, { elements: 1, bytes: 2, name: "I16" }],
  [26, { elements: 1, bytes: 4, name: "I32" }],
  [27, { elements: 1, bytes: 8, name: "I64" }],
  [28, { elements: 1, bytes: 8, name: "F64" }],
  [30, { elements: 1, bytes: 2, name: "BF16" }],
]);

/** Rounds `offset` up to the next multiple of `alignment`. */
export function alignOffset(offset: number, alignment: number): number {
  return Math.ceil(offset / alignment) * alignment;
}
