import os from "node:os";
import { getLlama, LlamaLogLevel, type Llama, type LlamaContext, type LlamaModel } from "node-llama-cpp";
import { inspectGgufFile, ModelFileError, type GgufModelInfo } from "../model-file/validate-gguf.js";
import { countPromptTokens } from "./count-prompt-tokens.js";
import { runGeneration, type GenerationEvent } from "./run-generation.js";
import { createEmbeddingRunner, type EmbeddingResult } from "./embedding-runner.js";
import { createSequenceSlots, type SequenceSlots } from "./sequence-slots.js";
import { createSequencePool } from "./sequence-pool.js";
import { createThroughputMeter } from "./throughput-meter.js";
import type { ChatParams } from "../../../gen/iir/inference/v1/inference_pb.js";

export type { GenerationEvent } from "./run-generation.js";
export type { EmbeddingResult } from "./embedding-runner.js";

/** How to load and run one GGUF model. */
export interface EngineOptions {
  readonly modelPath: string;
  readonly threads: number;
  readonly gpu: "auto" | false;
  /** Sequences decoded together in one context. */
  readonly parallel: number;
  readonly maxQueue: number;
  /** Context tokens per sequence; 0: the model's training context, at most 4096. */
  readonly contextSize: number;
  /** llama.cpp's own warnings and errors. */
  readonly log?: (level: "warn" | "error", message: string) => void;
}

/** What the agent reports in its heartbeats. */
export interface EngineLoad {
  readonly queueLength: number;
  readonly activeSequences: number;
  readonly tokensPerSecond: number;
}

/** One loaded model, ready to answer chat requests. */
export interface LlamaEngine {
  readonly info: GgufModelInfo;
  /** Tokens per sequence. */
  readonly contextSize: number;
  /** The GPU in use (type: node-llama-cpp's backend, "cuda", "vulkan", "metal"), or undefined on CPU. */
  readonly gpu: { readonly name: string; readonly vramBytes: number; readonly type: string } | undefined;
  /** Text deltas, then one finish event with usage; waits in the queue first when all sequences are busy. */
  generate(params: ChatParams, signal: AbortSignal): AsyncIterable<GenerationEvent>;
  /** The tokens the request's prompt takes (chat template applied), without generating. */
  countTokens(params: ChatParams): number;
  /** One vector per text, in order, on an embedding context of its own (embedding-runner.ts). */
  embed(texts: readonly string[], signal: AbortSignal): Promise<EmbeddingResult>;
  load(): EngineLoad;
  close(): Promise<void>;
}

const defaultMaximumContext = 4096;

/**
 * Loads a GGUF model with node-llama-cpp. The file's header is validated first, because some
 * malformed files abort the native loader and with it the whole process; a file that passes but
 * still fails to load gives llama.cpp's own reason.
 */
export async function loadLlamaEngine(options: EngineOptions): Promise<LlamaEngine> {
  const info = await inspectGgufFile(options.modelPath);
  const nativeErrors: string[] = [];
  const llama = await getLlama({
    gpu: options.gpu,
    build: "never",
    maxThreads: options.threads,
    logLevel: LlamaLogLevel.warn,
    logger: (level, message) => {
      const text = message.trim();
      if (text === "") return;
      if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) {
        nativeErrors.push(text);
        options.log?.("error", text);
      } else if (level === LlamaLogLevel.warn) {
        options.log?.("warn", text);
      }
    },
  });
  let model: LlamaModel | undefined;
  try {
    model = await llama.loadModel({ modelPath: options.modelPath });
    const wanted = options.contextSize > 0 ? options.contextSize : Math.min(info.contextLength ?? defaultMaximumContext, defaultMaximumContext);
    const context = await model.createContext({ sequences: options.parallel, contextSize: wanted, threads: options.threads });
    return await createEngine({ llama, model, context, info, options });
  } catch (error) {
    await model?.dispose();
    await llama.dispose();
    if (error instanceof ModelFileError) throw error;
    const reason = nativeErrors.at(-1) ?? (error instanceof Error ? error.message : String(error));
    throw new ModelFileError(options.modelPath, "corrupt", `llama.cpp could not load it: ${reason}`);
  }
}

interface EngineParts {
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  info: GgufModelInfo;
  options: EngineOptions;
}

async function createEngine(parts: EngineParts): Promise<LlamaEngine> {
  const { llama, model, context, info, options } = parts;
  const slots: SequenceSlots = createSequenceSlots(options.parallel, options.maxQueue);
  const throughput = createThroughputMeter(10_000);
  const gpu = llama.gpu === false ? undefined : await describeGpu(llama);
  const contextSize = context.contextSize;
  const sequences = createSequencePool(context);
  const embeddings = createEmbeddingRunner({ model, contextSize, threads: options.threads, maxQueue: options.maxQueue });
  return {
    info,
    contextSize,
    gpu,
    async *generate(params, signal) {
      const release = await slots.acquire(signal);
      try {
        yield* runGeneration({ model, sequences, contextSize, params, signal, onTokens: (count) => throughput.add(count) });
      } finally {
        release();
      }
    },
    embed: (texts, signal) => embeddings.embed(texts, signal),
    countTokens: (params) => countPromptTokens(model, params.messages),
    load: () => ({ queueLength: slots.queued, activeSequences: slots.active, tokensPerSecond: throughput.rate() }),
    async close() {
      await embeddings.close();
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}

async function describeGpu(llama: Llama): Promise<{ name: string; vramBytes: number; type: string } | undefined> {
  try {
    const [names, vram] = await Promise.all([llama.getGpuDeviceNames(), llama.getVramState()]);
    return { name: names.join(", ") || String(llama.gpu), vramBytes: vram.total, type: String(llama.gpu) };
  } catch {
    return undefined;
  }
}

/** Cores and memory of this machine, for registration. */
export function describeHost(): { cpuCores: number; memoryBytes: number; platform: string } {
  return { cpuCores: os.availableParallelism(), memoryBytes: os.totalmem(), platform: `${os.platform()}-${os.arch()}` };
}
