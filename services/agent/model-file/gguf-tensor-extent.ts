import { GGML_TYPE_BLOCKS } from "./gguf-format.js";
import type { BoundedGgufReader } from "./gguf-reader.js";
import { ModelFileError } from "./model-file-error.js";

// ggml's GGML_MAX_DIMS.
const MAX_TENSOR_DIMS = 4;

/** How far the tensor data reaches, from the tensor infos alone. */
export type TensorExtent = {
  /** End of the furthest tensor, relative to the start of the data section. */
  endOffset: number;
  lastTensorName: string;
  /** ggml types we could not size; for those only the start offset was counted. */
  unsizedTypes: number[];
};

function tensorBytes(reader: BoundedGgufReader, name: string, dims: number[], type: number): number | undefined {
  const block = GGML_TYPE_BLOCKS.get(type);
  if (block === undefined) return undefined;
  const elements = dims.reduce((product, dim) => product * dim, 1);
  if (!Number.isSafeInteger(elements)) {
    throw new ModelFileError(reader.filePath, "corrupt", `tensor ${name} has absurd dimensions ${dims.join("x")}`);
  }
  if ((dims[0] ?? 1) % block.elements !== 0) {
    throw new ModelFileError(reader.filePath, "corrupt", `tensor ${name}: row length ${dims[0]} is not a multiple of the ${block.name} block size ${block.elements}`);
  }
  return (elements / block.elements) * block.bytes;
}

/**
 * Reads `count` tensor infos (name, dims, type, offset) and returns the furthest byte any of them
 * needs, without keeping the infos: memory stays constant however many tensors a file claims.
 */
export async function readTensorExtent(reader: BoundedGgufReader, count: number, alignment: number): Promise<TensorExtent> {
  // Each tensor info takes at least 24 bytes (name length, n_dims, type, offset).
  reader.requireBytes(count * 24, `${count} tensor infos`);
  const extent: TensorExtent = { endOffset: 0, lastTensorName: "", unsizedTypes: [] };
  for (let index = 0; index < count; index++) {
    const name = (await reader.string(`name of tensor #${index}`, 256)) ?? `#${index}`;
    const dimensionCount = await reader.u32(`dimension count of tensor ${name}`);
    if (dimensionCount > MAX_TENSOR_DIMS) {
      throw new ModelFileError(reader.filePath, "corrupt", `tensor ${name} has ${dimensionCount} dimensions (ggml allows ${MAX_TENSOR_DIMS})`);
    }
    const dims: number[] = [];
    for (let dim = 0; dim < dimensionCount; dim++) dims.push(await reader.u64(`dimension ${dim} of tensor ${name}`));
    const type = await reader.u32(`type of tensor ${name}`);
    const offset = await reader.u64(`offset of tensor ${name}`);
    if (offset % alignment !== 0) {
      throw new ModelFileError(reader.filePath, "corrupt", `tensor ${name} starts at offset ${offset}, not a multiple of the alignment ${alignment}`);
    }
    const bytes = tensorBytes(reader, name, dims, type);
    if (bytes === undefined && !extent.unsizedTypes.includes(type)) extent.unsizedTypes.push(type);
    const end = offset + (bytes ?? 0);
    if (end >= extent.endOffset) {
      extent.endOffset = end;
      extent.lastTensorName = name;
    }
  }
  return extent;
}
