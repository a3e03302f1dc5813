import { opendir, stat } from "node:fs/promises";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { readGgufFileInfo } from "node-llama-cpp";
import { ModelFileSchema, type ModelFile } from "../../../gen/iir/registry/v1/registry_pb.js";
import type { Logger } from "../../common/logger.js";
import { inspectGgufFile, ModelFileError } from "../model-file/validate-gguf.js";
import { defaultModelId } from "../model-id.js";
import { estimateModelFacts } from "./estimate-fit.js";

/** How a models directory is scanned. */
export interface ScanOptions {
  /** Estimate GPU memory (every layer offloaded) rather than RAM. */
  readonly gpu: boolean;
  readonly logger: Pick<Logger, "warn">;
  /** Directory entries read at most, so a huge directory cannot stall the agent (default 10 000). */
  readonly maxEntries?: number;
  /** GGUF files described at most; the first by name are kept (default 256). */
  readonly maxFiles?: number;
}

/**
 * The GGUF files directly inside `directory` (not its subdirectories), described from their headers
 * and sorted by name. Symbolic links count when they lead to a regular file. Every file is checked
 * by inspectGgufFile first, as before loading: a truncated or hostile file is skipped with a warning
 * naming it and the reason, never handed to a parser that could take the process down.
 */
export async function scanModelsDirectory(directory: string, options: ScanOptions): Promise<ModelFile[]> {
  const names = await listGgufNames(directory, options);
  const files: ModelFile[] = [];
  for (const fileName of names) {
    const described = await describeModelFile(directory, fileName, options.gpu).catch((error: unknown) => {
      const reason = error instanceof ModelFileError ? error.message : `cannot be described: ${error instanceof Error ? error.message : String(error)}`;
      options.logger.warn("model file skipped", { file: fileName, reason });
      return undefined;
    });
    if (described !== undefined) files.push(described);
  }
  return files;
}

/** One file of the directory as a ModelFile; throws ModelFileError when it is not a safe GGUF model. */
export async function describeModelFile(directory: string, fileName: string, gpu: boolean): Promise<ModelFile> {
  const filePath = path.join(directory, fileName);
  const checked = await inspectGgufFile(filePath);
  // The header passed inspectGgufFile's bounds checks, so node-llama-cpp may read it for its estimates.
  const fileInfo = await readGgufFileInfo(filePath, { sourceType: "filesystem", spliceSplitFiles: false, logWarnings: false });
  const facts = await estimateModelFacts(fileInfo, { gpu });
  return create(ModelFileSchema, {
    fileName,
    modelId: defaultModelId(filePath),
    sizeBytes: BigInt(checked.fileSize),
    architecture: checked.architecture,
    name: checked.name ?? "",
    parameterCount: BigInt(Math.round(facts.parameterCount)),
    quantization: facts.quantization,
    contextLength: facts.contextLength || checked.contextLength,
    estimates: facts.estimates,
  });
}

async function listGgufNames(directory: string, options: ScanOptions): Promise<string[]> {
  const maxEntries = options.maxEntries ?? 10_000;
  const maxFiles = options.maxFiles ?? 256;
  const names: string[] = [];
  let seen = 0;
  const entries = await opendir(directory);
  try {
    for await (const entry of entries) {
      if (++seen > maxEntries) {
        options.logger.warn("models directory has too many entries; the rest are not scanned", { directory, maxEntries });
        break;
      }
      if (!entry.name.toLowerCase().endsWith(".gguf") || entry.name.startsWith(".")) continue;
      if (entry.isFile() || (entry.isSymbolicLink() && (await isRegularFile(path.join(directory, entry.name))))) names.push(entry.name);
    }
  } finally {
    // Breaking out of the loop closes the handle already; closing twice throws ERR_DIR_CLOSED.
    await entries.close().catch(() => undefined);
  }
  names.sort();
  if (names.length > maxFiles) {
    options.logger.warn("models directory has more GGUF files than are described; the first by name are kept", { directory, files: names.length, maxFiles });
    names.length = maxFiles;
  }
  return names;
}

async function isRegularFile(filePath: string): Promise<boolean> {
  try {
    return (await stat(filePath)).isFile();
  } catch {
    return false;
  }
}
