import { create } from "@bufbuild/protobuf";
import { GgmlType, GgufFileType, GgufInsights, type GgufFileInfo } from "node-llama-cpp";
import { MemoryEstimateSchema, type MemoryEstimate } from "../../../gen/iir/registry/v1/registry_pb.js";

/** Context sizes estimated for every model, up to its training context. */
export const estimatedContextSizes: readonly number[] = [2048, 4096, 8192, 16384, 32768, 65536, 131072];

/** What a model file's header says about its size and needs, beside the file's name and size. */
export interface ModelFacts {
  readonly parameterCount: number;
  readonly quantization: string;
  readonly contextLength: number;
  /** Smallest context first. */
  readonly estimates: MemoryEstimate[];
}

/**
 * node-llama-cpp's estimate of the memory a model needs (weights plus one context) at each of
 * {@link estimatedContextSizes} up to its training context (and that context itself). On a GPU agent
 * every layer is counted as offloaded (`vram_bytes`); on a CPU agent all of it is RAM.
 *
 * Uses GgufInsights' arithmetic over the header (estimateModelResourceRequirements,
 * estimateContextResourceRequirements) rather than the V2 calls, which load the model natively to
 * measure it: a scan must never hand an unchecked file to llama.cpp, nor spend seconds per file.
 */
export async function estimateModelFacts(fileInfo: GgufFileInfo, options: { readonly gpu: boolean }): Promise<ModelFacts> {
  const insights = await GgufInsights.from(fileInfo);
  const gpuLayers = options.gpu ? insights.totalLayers : 0;
  const weights = insights.estimateModelResourceRequirements({ gpuLayers });
  const training = insights.trainContextSize ?? 0;
  const sizes = contextSizesFor(training);
  const estimates = sizes.map((contextSize) => {
    // One sequence: the recommendation is about the largest context a single conversation gets.
    const context = insights.estimateContextResourceRequirements({ contextSize, modelGpuLayers: gpuLayers, sequences: 1 });
    return create(MemoryEstimateSchema, {
      contextSize,
      ramBytes: BigInt(Math.ceil(weights.cpuRam + context.cpuRam)),
      vramBytes: BigInt(Math.ceil(weights.gpuVram + context.gpuVram)),
    });
  });
  return { parameterCount: insights.totalParameters, quantization: quantizationOf(fileInfo, insights), contextLength: training, estimates };
}

/** The standard sizes below the training context, and the training context itself (when known). */
export function contextSizesFor(trainingContext: number): number[] {
  if (trainingContext <= 0) return [estimatedContextSizes[0]!];
  const sizes = estimatedContextSizes.filter((size) => size < trainingContext);
  sizes.push(trainingContext);
  return sizes;
}

/** general.file_type's name ("MOSTLY_Q4_K_M"), else the dominant tensor type ("F16", "Q8_0"). */
function quantizationOf(fileInfo: GgufFileInfo, insights: GgufInsights): string {
  const fileType = fileInfo.metadata?.general?.file_type;
  if (typeof fileType === "number" && GgufFileType[fileType] !== undefined) return GgufFileType[fileType];
  const dominant = insights.dominantTensorType;
  return dominant === undefined ? "" : (GgmlType[dominant] ?? String(dominant));
}
