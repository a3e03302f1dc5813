import { open, stat, type FileHandle } from "node:fs/promises";
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, alignOffset } from "./gguf-format.js";
import { BoundedGgufReader, type GgufValue } from "./gguf-reader.js";
import { ModelFileError, systemErrorCode } from "./model-file-error.js";
import { readTensorExtent, type TensorExtent } from "./gguf-tensor-extent.js";

export { ModelFileError, type ModelFileProblem } from "./model-file-error.js";

/** What the header and metadata of a GGUF model say, checked to be safe to hand to llama.cpp. */
export type GgufModelInfo = {
  filePath: string;
  fileSize: number;
  version: number;
  architecture: string;
  name: string | undefined;
  contextLength: number;
  blockCount: number;
  embeddingLength: number;
  headCount: number;
  headCountKv: number | undefined;
  feedForwardLength: number;
  tokenizerModel: string | undefined;
  vocabularySize: number | undefined;
  chatTemplate: string | undefined;
  tensorCount: number;
  metadataCount: number;
  /** ggml type ids of tensors whose size we cannot compute; their bytes were not checked. */
  unsizedTensorTypes: number[];
};

// Keys whose absence (or a zero) makes llama.cpp abort or divide by zero natively instead of throwing.
const REQUIRED_ARCHITECTURE_KEYS = [
  "context_length",
  "embedding_length",
  "block_count",
  "feed_forward_length",
  "attention.head_count",
] as const;

async function openModelFile(filePath: string): Promise<FileHandle> {
  const fail = (error: unknown): never => {
    const code = systemErrorCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") throw new ModelFileError(filePath, "missing", "no such file");
    if (code === "EACCES" || code === "EPERM") throw new ModelFileError(filePath, "unreadable", `permission denied (${code})`);
    throw new ModelFileError(filePath, "unreadable", error instanceof Error ? error.message : String(error));
  };
  const stats = await stat(filePath).catch(fail);
  if (stats.isDirectory()) throw new ModelFileError(filePath, "not-a-file", "it is a directory");
  // A FIFO or device would block or stream forever; only regular files are models.
  if (!stats.isFile()) throw new ModelFileError(filePath, "not-a-file", "it is not a regular file");
  return open(filePath, "r").catch(fail);
}

async function readVersion(reader: BoundedGgufReader): Promise<number> {
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

async function readMetadata(reader: BoundedGgufReader, count: number): Promise<Map<string, GgufValue>> {
  // Each key/value takes at least 13 bytes (key length, type, one byte), so a corrupt count fails here.
  reader.requireBytes(count * 13, `${count} metadata entries`);
  const metadata = new Map<string, GgufValue>();
  for (let index = 0; index < count; index++) {
    const key = await reader.string(`metadata key #${index}`, 65535);
    if (key === undefined) throw new ModelFileError(reader.filePath, "corrupt", `metadata key #${index} is longer than 65535 bytes`);
    const value = await reader.value(await reader.u32(`type of ${key}`), key);
    if (value !== undefined) metadata.set(key, value);
  }
  return metadata;
}

function positiveNumber(value: GgufValue | undefined): number | undefined {
  if (typeof value === "number") return value > 0 ? value : undefined;
  // Some architectures store per-layer arrays (head counts, feed-forward sizes).
  if (typeof value === "object" && value.numbers !== undefined && value.numbers.length > 0) {
    const largest = Math.max(...value.numbers);
    return largest > 0 ? largest : undefined;
  }
  return undefined;
}

function readAlignment(reader: BoundedGgufReader, metadata: Map<string, GgufValue>): number {
  const alignment = metadata.get("general.alignment") ?? GGUF_DEFAULT_ALIGNMENT;
  if (typeof alignment !== "number" || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw new ModelFileError(reader.filePath, "corrupt", `general.alignment ${JSON.stringify(alignment)} is not a power of two`);
  }
  return alignment;
}

function requireArchitectureKeys(filePath: string, metadata: Map<string, GgufValue>): { architecture: string; numbers: Map<string, number> } {
  const architecture = metadata.get("general.architecture");
  if (typeof architecture !== "string" || architecture === "") {
    throw new ModelFileError(filePath, "missing-key", "general.architecture is missing");
  }
  const numbers = new Map<string, number>();
  const missing: string[] = [];
  for (const suffix of REQUIRED_ARCHITECTURE_KEYS) {
    const value = positiveNumber(metadata.get(`${architecture}.${suffix}`));
    if (value === undefined) missing.push(`${architecture}.${suffix}`);
    else numbers.set(suffix, value);
  }
  if (missing.length > 0) {
    throw new ModelFileError(filePath, "missing-key", `${missing.join(", ")} missing or not a positive number (llama.cpp would abort the process)`);
  }
  return { architecture, numbers };
}

function checkTensorData(reader: BoundedGgufReader, extent: TensorExtent, alignment: number): void {
  const dataStart = alignOffset(reader.position, alignment);
  const needed = dataStart + extent.endOffset;
  if (needed > reader.fileSize) {
    throw new ModelFileError(reader.filePath, "truncated",
      `tensor ${extent.lastTensorName} ends at byte ${needed} but the file has ${reader.fileSize} bytes (${needed - reader.fileSize} missing)`);
  }
}

/**
 * Reads only the header, metadata and tensor infos of a GGUF file (bounded reads, never the tensor
 * data) and returns what a loader needs to know, or throws ModelFileError naming the file and the
 * reason: missing, a directory, unreadable, not GGUF, unsupported version, truncated (header,
 * metadata or tensor data), corrupt counts/lengths, or missing keys that would crash llama.cpp.
 */
export async function inspectGgufFile(filePath: string): Promise<GgufModelInfo> {
  const handle = await openModelFile(filePath);
  try {
    const reader = new BoundedGgufReader(handle, (await handle.stat()).size, filePath);
    const version = await readVersion(reader);
    const tensorCount = await reader.u64("tensor count");
    const metadataCount = await reader.u64("metadata count");
    const metadata = await readMetadata(reader, metadataCount);
    const alignment = readAlignment(reader, metadata);
    const extent = await readTensorExtent(reader, tensorCount, alignment);
    checkTensorData(reader, extent, alignment);
    const { architecture, numbers } = requireArchitectureKeys(filePath, metadata);
    const text = (key: string) => {
      const value = metadata.get(key);
      return typeof value === "string" ? value : undefined;
    };
    const tokens = metadata.get("tokenizer.ggml.tokens");
    return {
      filePath,
      fileSize: reader.fileSize,
      version,
      architecture,
      name: text("general.name"),
      contextLength: numbers.get("context_length") ?? 0,
      blockCount: numbers.get("block_count") ?? 0,
      embeddingLength: numbers.get("embedding_length") ?? 0,
      headCount: numbers.get("attention.head_count") ?? 0,
      headCountKv: positiveNumber(metadata.get(`${architecture}.attention.head_count_kv`)),
      feedForwardLength: numbers.get("feed_forward_length") ?? 0,
      tokenizerModel: text("tokenizer.ggml.model"),
      vocabularySize: typeof tokens === "object" ? tokens.length : undefined,
      chatTemplate: text("tokenizer.chat_template"),
      tensorCount,
      metadataCount,
      unsizedTensorTypes: extent.unsizedTypes,
    };
  } finally {
    await handle.close();
  }
}
