import type { Agent, ModelFile, ModelRecommendation, RegistryStatus } from "../gen/iir/registry/v1/registry_pb.js";

/**
 * The REST view of RegistryService's status: snake_case fields, plain numbers for byte counts (they
 * stay far below 2^53), and ISO-8601 times. `GET /v1/registry/status` and `iir models recommend --json`
 * answer the same shape.
 */
export function registryStatusToJson(status: RegistryStatus) {
  return {
    object: "registry.status",
    last_refresh_at: isoTime(status.lastRefreshAt),
    headroom_fraction: status.headroomFraction,
    reserve_bytes: Number(status.reserveBytes),
    agents: status.agents.map((entry) => ({
      ...agentToJson(entry.agent),
      budget: { kind: entry.budgetKind, bytes: Number(entry.budgetBytes) },
      refresh_error: entry.refreshError || null,
      model_files: (entry.agent?.modelFiles ?? []).map(modelFileToJson),
      recommendations: entry.recommendations.map(recommendationToJson),
    })),
  };
}

function agentToJson(agent: Agent | undefined) {
  const hardware = agent?.hardware;
  return {
    id: agent?.id ?? "",
    address: agent?.address ?? "",
    models: agent?.models ?? [],
    stale: agent?.stale ?? false,
    model_files_updated_at: isoTime(agent?.modelFilesUpdatedAt ?? 0n),
    hardware: {
      cpu_cores: hardware?.cpuCores ?? 0,
      memory_bytes: Number(hardware?.memoryBytes ?? 0n),
      total_memory_bytes: Number(hardware?.totalMemoryBytes ?? 0n),
      platform: hardware?.platform ?? "",
      gpu_type: hardware?.gpuType || null,
      gpu_name: hardware?.gpuName || null,
      gpu_vram_bytes: Number(hardware?.gpuVramBytes ?? 0n),
    },
  };
}

function modelFileToJson(file: ModelFile) {
  return {
    file_name: file.fileName,
    model_id: file.modelId,
    size_bytes: Number(file.sizeBytes),
    architecture: file.architecture,
    name: file.name || null,
    parameter_count: Number(file.parameterCount),
    quantization: file.quantization,
    context_length: file.contextLength,
    estimates: file.estimates.map((estimate) => ({ context_size: estimate.contextSize, ram_bytes: Number(estimate.ramBytes), vram_bytes: Number(estimate.vramBytes) })),
  };
}

function recommendationToJson(recommendation: ModelRecommendation) {
  return {
    file_name: recommendation.fileName,
    model_id: recommendation.modelId,
    fits: recommendation.fits,
    max_context_size: recommendation.maxContextSize,
    required_bytes: Number(recommendation.requiredBytes),
    rank: recommendation.rank,
    recommended: recommendation.recommended,
    loaded: recommendation.loaded,
    reason: recommendation.reason,
  };
}

function isoTime(milliseconds: bigint): string | null {
  return milliseconds > 0n ? new Date(Number(milliseconds)).toISOString() : null;
}
