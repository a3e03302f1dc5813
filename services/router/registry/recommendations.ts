import { create } from "@bufbuild/protobuf";
import { ModelRecommendationSchema, type Hardware, type MemoryEstimate, type ModelFile, type ModelRecommendation } from "../../../gen/iir/registry/v1/registry_pb.js";

/** How much of an agent's memory a recommended model may take (IIR_RECOMMEND_HEADROOM, IIR_RECOMMEND_RESERVE). */
export interface RecommendationSettings {
  /** Share of the memory kept free for the OS, the runtime and estimate error, e.g. 0.15. */
  readonly headroomFraction: number;
  /** Bytes kept free besides, e.g. for other processes on the machine. */
  readonly reserveBytes: number;
}

/** What a model may use on one agent: GPU memory (and RAM) on a GPU agent, else RAM. */
export interface MemoryBudget {
  readonly kind: "ram" | "vram";
  /** Of the kind above. */
  readonly bytes: number;
  /** RAM a model may use (equal to bytes on a CPU agent). */
  readonly ramBytes: number;
}

/** One agent's recommendations: its budget and every file, fitting ones first in rank order. */
export interface AgentRecommendations {
  readonly budget: MemoryBudget;
  readonly recommendations: ModelRecommendation[];
}

/** The budget left of `total` bytes after the headroom share and the fixed reserve. */
function afterHeadroom(total: number, settings: RecommendationSettings): number {
  return Math.max(0, Math.floor(total * (1 - settings.headroomFraction)) - settings.reserveBytes);
}

/** An agent's memory budget from its reported hardware; zero when it reported none. */
export function memoryBudget(hardware: Hardware | undefined, settings: RecommendationSettings): MemoryBudget {
  const ramBytes = afterHeadroom(Number(hardware?.memoryBytes ?? 0n), settings);
  const vram = Number(hardware?.gpuVramBytes ?? 0n);
  if (vram > 0) return { kind: "vram", bytes: afterHeadroom(vram, settings), ramBytes };
  return { kind: "ram", bytes: ramBytes, ramBytes };
}

function fitsIn(estimate: MemoryEstimate, budget: MemoryBudget): boolean {
  if (Number(estimate.ramBytes) > budget.ramBytes) return false;
  return budget.kind === "ram" || Number(estimate.vramBytes) <= budget.bytes;
}

function neededBytes(estimate: MemoryEstimate, budget: MemoryBudget): number {
  return Number(budget.kind === "vram" ? estimate.vramBytes : estimate.ramBytes);
}

const mebibytes = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(bytes < 100 * 1024 ** 2 ? 1 : 0)} MiB`;

/** Whether one file fits, and at which context size; ranks are filled in by {@link recommendModels}. */
function judge(file: ModelFile, budget: MemoryBudget, served: ReadonlySet<string>): ModelRecommendation {
  const estimates = [...file.estimates].sort((a, b) => a.contextSize - b.contextSize);
  // Memory grows with the context, so the fitting sizes are a prefix of the sorted list.
  const fitting = estimates.filter((estimate) => fitsIn(estimate, budget));
  const best = fitting.at(-1);
  const smallest = estimates[0];
  const base = { fileName: file.fileName, modelId: file.modelId, loaded: served.has(file.modelId) };
  if (best !== undefined) {
    const needed = neededBytes(best, budget);
    return create(ModelRecommendationSchema, {
      ...base,
      fits: true,
      maxContextSize: best.contextSize,
      requiredBytes: BigInt(needed),
      reason: `fits with a context of ${best.contextSize} tokens: ${mebibytes(needed)} of ${mebibytes(budget.bytes)} ${budget.kind} after headroom`,
    });
  }
  const needed = smallest === undefined ? 0 : neededBytes(smallest, budget);
  return create(ModelRecommendationSchema, {
    ...base,
    fits: false,
    requiredBytes: BigInt(needed),
    reason: smallest === undefined
      ? "no memory estimate for this file"
      : `needs ${mebibytes(needed)} ${budget.kind} with a context of ${smallest.contextSize} tokens; ${mebibytes(budget.bytes)} available after headroom`,
  });
}

/**
 * Which of an agent's model files fit its memory and at what context size, ranked: among the files
 * that fit, the one with the most parameters first (a bigger model answers better), then the one
 * allowing the longer context, then by name; files that do not fit follow, smallest need first.
 * The top pick is `recommended`; `loaded` marks the model the agent serves now.
 */
export function recommendModels(
  files: readonly ModelFile[],
  hardware: Hardware | undefined,
  servedModels: readonly string[],
  settings: RecommendationSettings,
): AgentRecommendations {
  const budget = memoryBudget(hardware, settings);
  const served = new Set(servedModels);
  const byName = new Map(files.map((file) => [file.fileName, file]));
  const judged = files.map((file) => judge(file, budget, served));
  const size = (recommendation: ModelRecommendation) => {
    const file = byName.get(recommendation.fileName);
    return Number(file?.parameterCount || file?.sizeBytes || 0n);
  };
  const fitting = judged
    .filter((recommendation) => recommendation.fits)
    .sort((a, b) => size(b) - size(a) || b.maxContextSize - a.maxContextSize || a.fileName.localeCompare(b.fileName));
  fitting.forEach((recommendation, index) => {
    recommendation.rank = index + 1;
    recommendation.recommended = index === 0;
  });
  const others = judged
    .filter((recommendation) => !recommendation.fits)
    .sort((a, b) => Number(a.requiredBytes - b.requiredBytes) || a.fileName.localeCompare(b.fileName));
  return { budget, recommendations: [...fitting, ...others] };
}
