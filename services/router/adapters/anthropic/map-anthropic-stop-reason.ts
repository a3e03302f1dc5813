import { FinishReason } from "../../../../gen/iir/inference/v1/inference_pb.js";

/**
 * Anthropic's `stop_reason` as the contract's finish reason; `null` or absent: not finished yet.
 * `pause_turn` (a server tool's long turn paused, to be continued by sending the answer back) ends
 * this answer like a stop; `refusal` is the safety classifier's. Any word a newer API adds still
 * means the model stopped. The raw word travels beside it (Finish.raw_reason).
 */
export function finishReasonFromAnthropic(value: unknown): FinishReason {
  if (typeof value !== "string" || value === "") return FinishReason.UNSPECIFIED;
  switch (value) {
    case "max_tokens":
    case "model_context_window_exceeded":
      return FinishReason.LENGTH;
    case "tool_use":
      return FinishReason.TOOL_CALLS;
    case "refusal":
      return FinishReason.CONTENT_FILTER;
    default:
      // end_turn, stop_sequence, pause_turn.
      return FinishReason.STOP;
  }
}
