import { Code, ConnectError } from "@connectrpc/connect";
import { Role, type ChatParams } from "../../gen/iir/inference/v1/inference_pb.js";

/**
 * Checks what every backend needs of a request, for RPC clients that bypass the facade's OpenAI
 * validation. Throws InvalidArgument naming the field.
 */
export function validateChatParams(params: ChatParams | undefined): asserts params is ChatParams {
  if (!params) throw invalid("params is required");
  if (!params.model) throw invalid("params.model is required");
  if (params.messages.length === 0) throw invalid("params.messages must contain at least one message");
  params.messages.forEach((message, index) => {
    if (message.role === Role.UNSPECIFIED || Role[message.role] === undefined) {
      throw invalid(`params.messages[${index}].role must be set`);
    }
    if (message.role === Role.TOOL && !message.toolCallId) {
      throw invalid(`params.messages[${index}].tool_call_id is required for tool messages`);
    }
  });
  if (params.temperature !== undefined && !(params.temperature >= 0 && params.temperature <= 2)) {
    throw invalid("params.temperature must be between 0 and 2");
  }
  if (params.topP !== undefined && !(params.topP >= 0 && params.topP <= 1)) throw invalid("params.top_p must be between 0 and 1");
  if (params.n !== undefined && params.n < 1) throw invalid("params.n must be at least 1");
  if (params.maxTokens !== undefined && params.maxTokens < 1) throw invalid("params.max_tokens must be at least 1");
  if (params.maxCompletionTokens !== undefined && params.maxCompletionTokens < 1) {
    throw invalid("params.max_completion_tokens must be at least 1");
  }
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}
