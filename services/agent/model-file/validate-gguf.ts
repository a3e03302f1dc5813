import { open, stat, type FileHandle } from "node:fs/promises";
import { readGgufFileInfo, type GgufFileInfo } from "node-llama-cpp";
import { checkGgufLayout, type GgufLayout } from "./gguf-layout.js";
import { measureTensorExtent, type TensorExtent } from "./gguf-tensor-extent.js";
import { ModelFileError, systemErrorCode } from "./model-file-error.js";

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

/** node-llama-cpp's parse of a header whose lengths `checkGgufLayout` has already bounded. */
async function readFileInfo(filePath: string, layout: GgufLayout): Promise<GgufFileInfo> {
  const info = await readGgufFileInfo(filePath, { sourceType: "filesystem", spliceSplitFiles: false, logWarnings: false })
    .catch((error: unknown) => {
      throw new ModelFileError(filePath, "corrupt", `node-llama-cpp cannot read its header: ${error instanceof Error ? error.message : String(error)}`);
    });
  // Both readers must agree on where the tensor infos end: otherwise the file changed in between.
  if (info.metadataSize + (info.tensorInfoSize ?? 0) !== layout.infoEnd) {
    throw new ModelFileError(filePath, "corrupt", "its header changed while being read");
  }
  return info;
}

/** The value at a dotted key of node-llama-cpp's nested metadata, own properties only. */
function lookup(root: unknown, key: string): unknown {
  let value = root;
  for (const part of key.split(".")) {
    if (typeof value !== "object" || value === null || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function positiveNumber(value: unknown): number | undefined {
  if (typeof value === "number") return value > 0 ? value : undefined;
  if (typeof value === "bigint") return value > 0n ? Number(value) : undefined;
  // Some architectures store per-layer arrays (head counts, feed-forward sizes): the largest counts.
  if (!Array.isArray(value)) return undefined;
  let largest: number | undefined;
  for (const item of value as unknown[]) {
    const number = typeof item === "number" || typeof item === "bigint" ? positiveNumber(item) : undefined;
    if (number !== undefined && (largest === undefined || number > largest)) largest = number;
  }
  return largest;
}

function text(metadata: unknown, key: string): string | undefined {
  const value = lookup(metadata, key);
  return typeof value === "string" ? value : undefined;
}

function requireArchitectureKeys(filePath: string, metadata: unknown): { architecture: string; numbers: Map<string, number> } {
  const architecture = text(metadata, "general.architecture");
  if (architecture === undefined || architecture === "") {
    throw new ModelFileError(filePath, "missing-key", "general.architecture is missing");
  }
  const numbers = new Map<string, number>();
  const missing: string[] = [];
  for (const suffix of REQUIRED_ARCHITECTURE_KEYS) {
    const value = positiveNumber(lookup(metadata, `${architecture}.${suffix}`));
    if (value === undefined) missing.push(`${architecture}.${suffix}`);
    else numbers.set(suffix, value);
  }
  if (missing.length > 0) {
    throw new ModelFileError(filePath, "missing-key", `${missing.join(", ")} missing or not a positive number (llama.cpp would abort the process)`);
  }
  return { architecture, numbers };
}

function checkTensorData(filePath: string, fileSize: number, info: GgufFileInfo): TensorExtent {
  const extent = measureTensorExtent(filePath, info.tensorInfo ?? []);
  if (extent.lastTensorName === "") return extent;
  const dataStart = info.infoEndOffset ?? Number.NaN;
  if (!Number.isSafeInteger(dataStart)) {
    throw new ModelFileError(filePath, "corrupt", `general.alignment ${String(lookup(info.metadata, "general.alignment"))} gives no data section`);
  }
  const needed = dataStart + extent.endOffset;
  if (needed > fileSize) {
    throw new ModelFileError(filePath, "truncated",
      `tensor ${extent.lastTensorName} ends at byte ${needed} but the file has ${fileSize} bytes (${needed - fileSize} missing)`);
  }
  return extent;
}

/**
 * Checks that a GGUF file is safe to hand to llama.cpp and returns what a loader needs to know, or
 * throws ModelFileError naming the file and the reason: missing, a directory, unreadable, not GGUF,
 * unsupported version, truncated (header, metadata or tensor data), corrupt counts/lengths, or
 * missing keys that would crash llama.cpp. Reads the header, metadata and tensor infos, never the
 * tensor data: bounds first (checkGgufLayout), then node-llama-cpp's reader parses them.
 */
export async function inspectGgufFile(filePath: string): Promise<GgufModelInfo> {
  const handle = await openModelFile(filePath);
  let fileSize: number;
  let layout: GgufLayout;
  try {
    fileSize = (await handle.stat()).size;
    layout = await checkGgufLayout(handle, fileSize, filePath);
  } finally {
    await handle.close();
  }
  const info = await readFileInfo(filePath, layout);
  const extent = checkTensorData(filePath, fileSize, info);
  const { architecture, numbers } = requireArchitectureKeys(filePath, info.metadata);
  const tokens = lookup(info.metadata, "tokenizer.ggml.tokens");
  return {
    filePath,
    fileSize,
    version: layout.version,
    architecture,
    name: text(info.metadata, "general.name"),
    contextLength: numbers.get("context_length") ?? 0,
    blockCount: numbers.get("block_count") ?? 0,
    embeddingLength: numbers.get("embedding_length") ?? 0,
    headCount: numbers.get("attention.head_count") ?? 0,
    headCountKv: positiveNumber(lookup(info.metadata, `${architecture}.attention.head_count_kv`)),
    feedForwardLength: numbers.get("feed_forward_length") ?? 0,
    tokenizerModel: text(info.metadata, "tokenizer.ggml.model"),
    vocabularySize: Array.isArray(tokens) ? tokens.length : undefined,
    chatTemplate: text(info.metadata, "tokenizer.chat_template"),
    tensorCount: layout.tensorCount,
    metadataCount: layout.metadataCount,
    unsizedTensorTypes: extent.unsizedTypes,
  };
}
