import { GgmlType, type GgufTensorInfo } from "node-llama-cpp";
import { ModelFileError } from "./model-file-error.js";

/** How far the tensor data reaches, from the tensor infos alone. */
export type TensorExtent = {
  /** End of the furthest tensor, relative to the start of the data section. */
  endOffset: number;
  lastTensorName: string;
  /** ggml types we could not size; for those only the start offset was counted. */
  unsizedTypes: number[];
};

// Elements and bytes per block of the ggml types we can size (ggml's type traits); node-llama-cpp
// only knows them through a loaded llama.cpp binary. Types not listed are skipped by the check.
const BLOCKS: ReadonlyMap<number, { elements: number; bytes: number }> = new Map([
  [GgmlType.F32, { elements: 1, bytes: 4 }],
  [GgmlType.F16, { elements: 1, bytes: 2 }],
  [GgmlType.Q4_0, { elements: 32, bytes: 18 }],
  [GgmlType.Q4_1, { elements: 32, bytes: 20 }],
  [GgmlType.Q5_0, { elements: 32, bytes: 22 }],
  [GgmlType.Q5_1, { elements: 32, bytes: 24 }],
  [GgmlType.Q8_0, { elements: 32, bytes: 34 }],
  [GgmlType.Q8_1, { elements: 32, bytes: 36 }],
  [GgmlType.Q2_K, { elements: 256, bytes: 84 }],
  [GgmlType.Q3_K, { elements: 256, bytes: 110 }],
  [GgmlType.Q4_K, { elements: 256, bytes: 144 }],
  [GgmlType.Q5_K, { elements: 256, bytes: 176 }],
  [GgmlType.Q6_K, { elements: 256, bytes: 210 }],
  [GgmlType.Q8_K, { elements: 256, bytes: 292 }],
  [GgmlType.I8, { elements: 1, bytes: 1 }],
  [GgmlType.I16, { elements: 1, bytes: 2 }],
  [GgmlType.I32, { elements: 1, bytes: 4 }],
  [GgmlType.I64, { elements: 1, bytes: 8 }],
  [GgmlType.F64, { elements: 1, bytes: 8 }],
  [GgmlType.BF16, { elements: 1, bytes: 2 }],
]);

function tensorBytes(filePath: string, tensor: GgufTensorInfo): number | undefined {
  const block = BLOCKS.get(tensor.ggmlType);
  if (block === undefined) return undefined;
  // The reader gives a bigint for a dimension past 2^53; Number() of it is not a safe integer either.
  const dims = tensor.dimensions.map(Number);
  const elements = dims.reduce((product, dim) => product * dim, 1);
  if (!Number.isSafeInteger(elements)) {
    throw new ModelFileError(filePath, "corrupt", `tensor ${tensor.name} has absurd dimensions ${tensor.dimensions.join("x")}`);
  }
  if ((dims[0] ?? 1) % block.elements !== 0) {
    throw new ModelFileError(filePath, "corrupt",
      `tensor ${tensor.name}: row length ${dims[0]} is not a multiple of the ${GgmlType[tensor.ggmlType]} block size ${block.elements}`);
  }
  return (elements / block.elements) * block.bytes;
}

/** The furthest byte of the data section any tensor needs, from node-llama-cpp's tensor infos. */
export function measureTensorExtent(filePath: string, tensors: readonly GgufTensorInfo[]): TensorExtent {
  const extent: TensorExtent = { endOffset: 0, lastTensorName: "", unsizedTypes: [] };
  for (const tensor of tensors) {
    const offset = Number(tensor.offset);
    if (!Number.isSafeInteger(offset)) throw new ModelFileError(filePath, "corrupt", `tensor ${tensor.name} starts at offset ${tensor.offset}`);
    const bytes = tensorBytes(filePath, tensor);
    if (bytes === undefined && !extent.unsizedTypes.includes(tensor.ggmlType)) extent.unsizedTypes.push(tensor.ggmlType);
    const end = offset + (bytes ?? 0);
    if (end >= extent.endOffset) {
      extent.endOffset = end;
      extent.lastTensorName = tensor.name;
    }
  }
  return extent;
}
