import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { encodeGguf, type GgufFileSpec, type GgufTensor } from "../../services/agent/model-file/gguf-writer.js";
import { createTinyModelSpec } from "../../services/agent/model-file/tiny-model.js";

/** The shape of a generated llama model: more blocks and a wider embedding make a bigger file and KV cache. */
export interface ModelShape {
  readonly blocks: number;
  readonly width: number;
  readonly feedForward: number;
  readonly contextLength: number;
}

/** Three models of clearly different sizes (≈0.4 MB, ≈10 MB, ≈81 MB of F32 weights). */
export const modelShapes = {
  small: { blocks: 2, width: 64, feedForward: 128, contextLength: 4096 },
  medium: { blocks: 4, width: 256, feedForward: 512, contextLength: 16384 },
  big: { blocks: 8, width: 512, feedForward: 1024, contextLength: 32768 },
} as const satisfies Record<string, ModelShape>;

/**
 * A valid llama GGUF of the given shape, with the tiny model's vocabulary and zero weights: its
 * header is all the catalog reads, and llama.cpp can still load it.
 */
export function sizedModelSpec(shape: ModelShape): GgufFileSpec {
  const base = createTinyModelSpec({ contextLength: shape.contextLength });
  const vocabulary = base.tensors.find((tensor) => tensor.name === "token_embd.weight")!.dims[1]!;
  const tensor = (name: string, dims: number[]): GgufTensor => ({ name, dims, data: new Float32Array(dims.reduce((product, dim) => product * dim, 1)) });
  const { width, feedForward } = shape;
  const tensors: GgufTensor[] = [tensor("token_embd.weight", [width, vocabulary])];
  for (let block = 0; block < shape.blocks; block++) {
    const prefix = `blk.${block}`;
    tensors.push(
      tensor(`${prefix}.attn_norm.weight`, [width]),
      tensor(`${prefix}.attn_q.weight`, [width, width]),
      tensor(`${prefix}.attn_k.weight`, [width, width]),
      tensor(`${prefix}.attn_v.weight`, [width, width]),
      tensor(`${prefix}.attn_output.weight`, [width, width]),
      tensor(`${prefix}.ffn_norm.weight`, [width]),
      tensor(`${prefix}.ffn_gate.weight`, [width, feedForward]),
      tensor(`${prefix}.ffn_up.weight`, [width, feedForward]),
      tensor(`${prefix}.ffn_down.weight`, [feedForward, width]),
    );
  }
  tensors.push(tensor("output_norm.weight", [width]), tensor("output.weight", [width, vocabulary]));
  const numbers: Record<string, number> = {
    "llama.embedding_length": width,
    "llama.block_count": shape.blocks,
    "llama.feed_forward_length": feedForward,
    "llama.rope.dimension_count": width / 4,
  };
  const metadata = base.metadata.map(([key, value]) => (key in numbers ? ([key, { type: "uint32", value: numbers[key]! }] as const) : ([key, value] as const)));
  return { metadata, tensors };
}

/** Writes a model of `shape` as `directory/fileName`; returns its path. */
export async function writeSizedModel(directory: string, fileName: string, shape: ModelShape): Promise<string> {
  await mkdir(directory, { recursive: true });
  const filePath = path.join(directory, fileName);
  await writeFile(filePath, encodeGguf(sizedModelSpec(shape)));
  return filePath;
}
