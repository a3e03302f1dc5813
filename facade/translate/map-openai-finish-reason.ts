import { FinishReason } from "../../gen/iir/inference/v1/inference_pb.js";
import type { OpenAIFinishReason } from "../../services/common/openai-types.js";

/**
 * Proto finish reason → OpenAI `finish_reason`. Unspecified maps to null: the backend did not say,
 * and the caller decides what a client should see instead.
 */
export function finishReasonToOpenAI(reason: FinishReason): OpenAIFinishReason | null {
  switch (reason) {
    case FinishReason.STOP:
      return "stop";
    case FinishReason.LENGTH:
      return "length";
    case FinishReason.TOOL_CALLS:
      return "tool_calls";
    case FinishReason.CONTENT_FILTER:
      return "content_filter";
    default:
      return null;
  }
}
