import { randomUUID } from "node:crypto";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { systemErrorCode } from "./model-file-error.js";
import { encodeGguf, type GgufFileSpec, type GgufMetadataValue, type GgufTensor } from "./gguf-writer.js";
import {
  createTinyVocabulary,
  TINY_BOS_ID,
  TINY_CHAT_TEMPLATE,
  TINY_EOS_ID,
  TINY_FIRST_BYTE_ID,
  TINY_SPACE_ID,
  TINY_UNK_ID,
} from "./tiny-vocabulary.js";

/** Name written to `general.name`; lets the agent tell the built-in model apart. */
export const TINY_MODEL_NAME = "iir-tiny";

/** Options of the built-in model; the defaults give the file every test and start-up uses. */
export type TinyModelOptions = {
  /** Seed of the weight generator; the same seed always gives a byte-identical file. Default 1. */
  seed?: number;
  /** `llama.context_length`. Default 4096: node-llama-cpp's default chat system prompt alone is ~400 byte tokens. */
  contextLength?: number;
};

const EMBEDDING_LENGTH = 64;
const FEED_FORWARD_LENGTH = 128;
const BLOCK_COUNT = 2;
const HEAD_COUNT = 4;
// Embedding channel 0 is held at a constant so that, after the final RMS norm, it acts as a
// per-token bias we can steer through output.weight[·, 0] (llama has no output bias tensor).
// Printable ASCII gets +PRINTABLE_BIAS, everything else the opposite, so output is readable
// gibberish. EOS gets a fixed level without noise, below the best printable token: greedy
// decoding never picks it (max_tokens stops generation); sampling at temperature 1 picks it
// about once in 500 tokens (12 of 100 64-token runs ended by EOS when measured).
const BIAS_CHANNEL_LEVEL = 2;
const PRINTABLE_BIAS = 2.5;
const EOS_BIAS = 2.9;

/** mulberry32: a tiny, well-mixed 32-bit PRNG; integer-only, so identical on every platform. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

function createTensorFactory(random: () => number) {
  const uniform = (name: string, dims: readonly number[], scale: number): GgufTensor => {
    const data = new Float32Array(dims.reduce((product, dim) => product * dim, 1));
    for (let index = 0; index < data.length; index++) data[index] = (random() * 2 - 1) * scale;
    return { name, dims, data };
  };
  const ones = (name: string, length: number): GgufTensor => ({ name, dims: [length], data: new Float32Array(length).fill(1) });
  return { uniform, ones };
}

function isPrintableByteToken(token: number): boolean {
  if (token === TINY_SPACE_ID) return true;
  const byte = token - TINY_FIRST_BYTE_ID;
  return (byte >= 0x20 && byte < 0x7f) || byte === 0x0a;
}

function createTensors(random: () => number, vocabularySize: number): GgufTensor[] {
  const { uniform, ones } = createTensorFactory(random);
  const width = EMBEDDING_LENGTH;
  const embeddings = uniform("token_embd.weight", [width, vocabularySize], 1);
  for (let token = 0; token < vocabularySize; token++) embeddings.data[token * width] = BIAS_CHANNEL_LEVEL;
  const tensors = [embeddings];
  const projectionScale = 1 / Math.sqrt(width);
  for (let block = 0; block < BLOCK_COUNT; block++) {
    const prefix = `blk.${block}`;
    tensors.push(
      ones(`${prefix}.attn_norm.weight`, width),
      uniform(`${prefix}.attn_q.weight`, [width, width], projectionScale),
      uniform(`${prefix}.attn_k.weight`, [width, width], projectionScale),
      uniform(`${prefix}.attn_v.weight`, [width, width], projectionScale),
      uniform(`${prefix}.attn_output.weight`, [width, width], projectionScale),
      ones(`${prefix}.ffn_norm.weight`, width),
      uniform(`${prefix}.ffn_gate.weight`, [width, FEED_FORWARD_LENGTH], projectionScale),
      uniform(`${prefix}.ffn_up.weight`, [width, FEED_FORWARD_LENGTH], projectionScale),
      uniform(`${prefix}.ffn_down.weight`, [FEED_FORWARD_LENGTH, width], 1 / Math.sqrt(FEED_FORWARD_LENGTH)),
    );
  }
  const output = uniform("output.weight", [width, vocabularySize], 0.5);
  for (let token = 0; token < vocabularySize; token++) {
    output.data[token * width] = isPrintableByteToken(token) ? PRINTABLE_BIAS : -PRINTABLE_BIAS;
  }
  // EOS: no noise, a level just under the printable tokens: rare when sampling, never the argmax.
  output.data.fill(0, TINY_EOS_ID * width, (TINY_EOS_ID + 1) * width);
  output.data[TINY_EOS_ID * width] = EOS_BIAS;
  tensors.push(ones("output_norm.weight", width), output);
  return tensors;
}

/** The tiny model as a GGUF spec (metadata and tensors), for writing or for deriving test files. */
export function createTinyModelSpec(options: TinyModelOptions = {}): GgufFileSpec {
  const vocabulary = createTinyVocabulary();
  const metadata: Array<readonly [string, GgufMetadataValue]> = [
    ["general.architecture", { type: "string", value: "llama" }],
    ["general.name", { type: "string", value: TINY_MODEL_NAME }],
    ["llama.context_length", { type: "uint32", value: options.contextLength ?? 4096 }],
    ["llama.embedding_length", { type: "uint32", value: EMBEDDING_LENGTH }],
    ["llama.block_count", { type: "uint32", value: BLOCK_COUNT }],
    ["llama.feed_forward_length", { type: "uint32", value: FEED_FORWARD_LENGTH }],
    ["llama.attention.head_count", { type: "uint32", value: HEAD_COUNT }],
    ["llama.attention.head_count_kv", { type: "uint32", value: HEAD_COUNT }],
    ["llama.attention.layer_norm_rms_epsilon", { type: "float32", value: 1e-5 }],
    ["llama.rope.freq_base", { type: "float32", value: 10000 }],
    ["llama.rope.dimension_count", { type: "uint32", value: EMBEDDING_LENGTH / HEAD_COUNT }],
    ["tokenizer.ggml.model", { type: "string", value: "llama" }],
    ["tokenizer.ggml.tokens", { type: "string[]", value: vocabulary.tokens }],
    ["tokenizer.ggml.scores", { type: "float32[]", value: vocabulary.scores }],
    ["tokenizer.ggml.token_type", { type: "int32[]", value: vocabulary.tokenTypes }],
    ["tokenizer.ggml.unknown_token_id", { type: "uint32", value: TINY_UNK_ID }],
    ["tokenizer.ggml.bos_token_id", { type: "uint32", value: TINY_BOS_ID }],
    ["tokenizer.ggml.eos_token_id", { type: "uint32", value: TINY_EOS_ID }],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: true }],
    ["tokenizer.ggml.add_eos_token", { type: "bool", value: false }],
    ["tokenizer.ggml.add_space_prefix", { type: "bool", value: false }],
    ["tokenizer.chat_template", { type: "string", value: TINY_CHAT_TEMPLATE }],
  ];
  const tensors = createTensors(mulberry32(options.seed ?? 1), vocabulary.tokens.length);
  return { metadata, tensors };
}

/** Writes the tiny model to `filePath` through a temporary file and a rename, so no reader sees half a file. */
export async function writeTinyModel(filePath: string, options: TinyModelOptions = {}): Promise<string> {
  await mkdir(dirname(filePath), { recursive: true });
  const temporaryPath = `${filePath}.${process.pid}.${randomUUID()}.tmp`;
  try {
    await writeFile(temporaryPath, encodeGguf(createTinyModelSpec(options)));
    await rename(temporaryPath, filePath);
  } finally {
    await rm(temporaryPath, { force: true });
  }
  return filePath;
}

/**
 * Returns `filePath`, writing the tiny model there first if nothing exists at that path. Two
 * processes racing both write a temporary file and rename it into place; the files are
 * byte-identical, so whichever rename lands last changes nothing.
 */
export async function ensureTinyModel(filePath: string, options: TinyModelOptions = {}): Promise<string> {
  try {
    await stat(filePath);
    return filePath;
  } catch (error) {
    if (systemErrorCode(error) !== "ENOENT") throw error;
  }
  return writeTinyModel(filePath, options);
}
