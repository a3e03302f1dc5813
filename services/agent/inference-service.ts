import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  ChatResponseSchema,
  ChatStreamResponseSchema,
  EmbedResponseSchema,
  FinishReason,
  FinishSchema,
  InferenceService,
  ListModelsResponseSchema,
  Role,
  TextDeltaSchema,
  UsageSchema,
  type ChatParams,
  type ChatStreamResponse,
} from "../../gen/iir/inference/v1/inference_pb.js";
import { validateChatParams } from "../common/validate-chat-params.js";
import { validateEmbedRequest } from "../common/validate-embed-request.js";
import { upstreamConnectError } from "../common/errors.js";
import type { GenerationEvent, LlamaEngine } from "./engine/llama-engine.js";

/** What the agent's InferenceService is built from. */
export interface AgentInferenceDeps {
  readonly engine: Pick<LlamaEngine, "generate" | "contextSize" | "embed" | "info" | "countTokens">;
  /** The model id clients ask for, e.g. `local/iir-tiny`. */
  readonly modelId: string;
  /** Reported as `backend` in every answer. */
  readonly agentId: string;
}

/**
 * The agent serves the same InferenceService as the router, so the router's agent adapter is just
 * a client of it. Generation runs on the engine; the handler's signal (client gone) aborts it.
 */
export function createAgentInferenceService(deps: AgentInferenceDeps): ServiceImpl<typeof InferenceService> {
  const generate = (params: ChatParams | undefined, signal: AbortSignal) => {
    validateChatParams(params);
    if (params.model !== deps.modelId) {
      throw new ConnectError(`The model '${params.model}' does not exist on this agent; it serves '${deps.modelId}'.`, Code.NotFound);
    }
    if ((params.n ?? 1) > 1) throw new ConnectError("params.n: local models answer one choice per request", Code.InvalidArgument);
    return deps.engine.generate(params, signal);
  };
  const part = (event: ChatStreamResponse["event"]) =>
    create(ChatStreamResponseSchema, { event, choiceIndex: 0, backend: deps.agentId, model: deps.modelId });

  return {
    async *chatStream(request, context) {
      for await (const event of generate(request.params, context.signal)) {
        if (event.type === "text") {
          if (event.text !== "") yield part({ case: "text", value: create(TextDeltaSchema, { text: event.text }) });
          continue;
        }
        yield part({ case: "finish", value: create(FinishSchema, { reason: event.reason }) });
        yield part({ case: "usage", value: usageOf(event) });
      }
    },
    async chat(request, context) {
      let text = "";
      let finish: Extract<GenerationEvent, { type: "finish" }> | undefined;
      for await (const event of generate(request.params, context.signal)) {
        if (event.type === "text") text += event.text;
        else finish = event;
      }
      return create(ChatResponseSchema, {
        id: `chatcmpl-${crypto.randomUUID().replaceAll("-", "")}`,
        created: BigInt(Math.floor(Date.now() / 1000)),
        model: deps.modelId,
        choices: [{ index: 0, message: { role: Role.ASSISTANT, content: { case: "text", value: text } }, finishReason: finish?.reason ?? FinishReason.STOP }],
        usage: finish === undefined ? undefined : usageOf(finish),
        backend: deps.agentId,
      });
    },
    async embed(request, context) {
      validateEmbedRequest(request);
      if (request.model !== deps.modelId) {
        throw new ConnectError(`The model '${request.model}' does not exist on this agent; it serves '${deps.modelId}'.`, Code.NotFound);
      }
      // The model's vectors have one length; cutting them short would not give a shorter embedding it was trained for.
      const length = deps.engine.info.embeddingLength;
      if (request.dimensions !== undefined && request.dimensions !== length) {
        const message = `${deps.modelId} makes vectors of ${length} dimensions and cannot shorten them; leave 'dimensions' out.`;
        throw upstreamConnectError(Code.InvalidArgument, { httpStatus: 400, message, type: "invalid_request_error", param: "dimensions", code: "unsupported_value", provider: "local" });
      }
      const result = await deps.engine.embed(request.inputs, context.signal);
      return create(EmbedResponseSchema, {
        model: deps.modelId,
        embeddings: result.vectors.map((values, index) => ({ index, values: [...values] })),
        usage: { promptTokens: result.promptTokens, totalTokens: result.promptTokens },
        backend: deps.agentId,
      });
    },
    async countTokens(request) {
      validateChatParams(request.params);
      if (request.params.model !== deps.modelId) {
        throw new ConnectError(`The model '${request.params.model}' does not exist on this agent; it serves '${deps.modelId}'.`, Code.NotFound);
      }
      // The model's chat template and tokenizer, as generation renders the prompt; no sequence needed.
      return { inputTokens: deps.engine.countTokens(request.params), backend: deps.agentId };
    },
    async listModels() {
      return create(ListModelsResponseSchema, {
        models: [{ id: deps.modelId, ownedBy: "local", provider: "local", contextLength: deps.engine.contextSize }],
      });
    },
  };
}

function usageOf(finish: Extract<GenerationEvent, { type: "finish" }>) {
  return create(UsageSchema, {
    promptTokens: finish.promptTokens,
    completionTokens: finish.completionTokens,
    totalTokens: finish.promptTokens + finish.completionTokens,
  });
}
