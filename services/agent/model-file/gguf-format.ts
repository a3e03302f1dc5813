/** Constants of the GGUF file format (v3, little-endian): the writer's, and the magic and value types the layout check walks. */

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

/** ggml tensor type id of plain 32-bit floats, the only type our writer emits. */
export const GGML_TYPE_F32 = 0;

/** Rounds `offset` up to the next multiple of `alignment`. */
export function alignOffset(offset: number, alignment: number): number {
  return Math.ceil(offset / alignment) * alignment;
}
