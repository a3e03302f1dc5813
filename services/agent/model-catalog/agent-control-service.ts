import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { LoadModelResponseSchema, ScanModelsResponseSchema, type AgentControlService } from "../../../gen/iir/agent/v1/agent_control_pb.js";
import type { Hardware, ModelFile } from "../../../gen/iir/registry/v1/registry_pb.js";

/** What the agent's control service acts on. */
export interface AgentControlDeps {
  /** Rescans the models directory; answers the files and the hardware they were estimated for. */
  scan(): Promise<{ hardware: Omit<Hardware, "$typeName" | "$unknown">; modelFiles: readonly ModelFile[] }>;
  /** Serves the named file instead of the current model; answers its model id and context size. */
  load(fileName: string, contextSize: number): Promise<{ modelId: string; contextSize: number }>;
}

/**
 * AgentControlService: the router's handle on an agent's models directory. Callers are checked
 * like inference callers (agent token, mutual TLS, or loopback) by the agent's interceptor.
 */
export function createAgentControlService(deps: AgentControlDeps): ServiceImpl<typeof AgentControlService> {
  return {
    async scanModels() {
      const { hardware, modelFiles } = await deps.scan();
      return create(ScanModelsResponseSchema, { hardware, modelFiles: [...modelFiles] });
    },
    async loadModel(request) {
      if (request.contextSize < 0 || request.contextSize > 1_048_576) {
        throw new ConnectError(`context_size must be between 0 and 1048576, got ${request.contextSize}`, Code.InvalidArgument);
      }
      const loaded = await deps.load(request.fileName, request.contextSize);
      return create(LoadModelResponseSchema, loaded);
    },
  };
}
