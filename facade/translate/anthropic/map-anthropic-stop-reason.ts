import { FinishReason } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { AnthropicStopReason } from "./anthropic-types.js";

const anthropicStopReasons: ReadonlySet<string> = new Set<AnthropicStopReason>([
  "end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal", "model_context_window_exceeded",
]);

/** How one answer ended, as the contract tells it. */
export interface StopFacts {
  readonly reason: FinishReason;
  /** The upstream's own reason; an Anthropic upstream's wins when it is one of Anthropic's. */
  readonly rawReason: string;
  /** The stop sequence that ended the answer, when the backend said which. */
  readonly stopSequence: string;
  /** Whether the answer calls tools (a backend may say STOP for an answer that only calls tools). */
  readonly hasToolCalls: boolean;
}

/**
 * Proto finish → Anthropic `stop_reason`: STOP → end_turn (stop_sequence when the backend named the
 * sequence), LENGTH → max_tokens, TOOL_CALLS → tool_use, CONTENT_FILTER → refusal. An answer with
 * tool calls that says it simply stopped is tool_use: clients loop on that reason to run the tools.
 */
export function stopReasonToAnthropic(facts: StopFacts): AnthropicStopReason {
  if (anthropicStopReasons.has(facts.rawReason)) return facts.rawReason as AnthropicStopReason;
  switch (facts.reason) {
    case FinishReason.LENGTH:
      return "max_tokens";
    case FinishReason.TOOL_CALLS:
      return "tool_use";
    case FinishReason.CONTENT_FILTER:
      return "refusal";
    default:
      if (facts.hasToolCalls) return "tool_use";
      return facts.stopSequence !== "" ? "stop_sequence" : "end_turn";
  }
}
