import type { Hardware } from "../../../gen/iir/registry/v1/registry_pb.js";
import { describeHost } from "../engine/llama-engine.js";

/** The GPU an engine found (llama-engine.ts), or undefined on CPU. */
export type EngineGpu = { readonly name: string; readonly vramBytes: number; readonly type: string } | undefined;

/**
 * This machine as the agent reports it: cores, memory, platform, and the GPU node-llama-cpp uses.
 * `memoryLimitBytes` (IIR_AGENT_MEMORY_LIMIT) caps the memory reported, for a container whose limit
 * the kernel's total does not show; the uncapped total then travels as total_memory_bytes.
 */
export function describeAgentHardware(gpu: EngineGpu, memoryLimitBytes: number | undefined): Omit<Hardware, "$typeName" | "$unknown"> {
  const host = describeHost();
  const capped = memoryLimitBytes !== undefined && memoryLimitBytes < host.memoryBytes;
  return {
    cpuCores: host.cpuCores,
    memoryBytes: BigInt(capped ? memoryLimitBytes : host.memoryBytes),
    totalMemoryBytes: BigInt(capped ? host.memoryBytes : 0),
    platform: host.platform,
    gpuName: gpu?.name ?? "",
    gpuVramBytes: BigInt(gpu?.vramBytes ?? 0),
    gpuType: gpu?.type ?? "",
  };
}
