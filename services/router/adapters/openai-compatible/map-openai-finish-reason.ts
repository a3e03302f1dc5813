import { FinishReason } from "../../../../gen/iir/inference/v1/inference_pb.js";

/**
 * Finish reason an OpenAI-compatible upstream reported, as the contract's enum. `null`/absent means
 * the choice has not finished yet (UNSPECIFIED). The legacy `function_call` is a tool call. Servers
 * that speak OpenAI's format loosely use their own words (vLLM and llama.cpp `eos`, Anthropic-style
 * `end_turn`, `max_tokens`, `tool_use`); any other non-empty word still means the model stopped, so
 * it becomes STOP rather than a finish the client would never see.
 */
export function finishReasonFromOpenAI(value: unknown): FinishReason {
  if (typeof value !== "string" || value === "") return FinishReason.UNSPECIFIED;
  switch (value) {
    case "stop":
      return FinishReason.STOP;
    case "length":
    case "max_tokens":
      return FinishReason.LENGTH;
    case "tool_calls":
    case "function_call":
    case "tool_use":
      return FinishReason.TOOL_CALLS;
    case "content_filter":
      return FinishReason.CONTENT_FILTER;
    default:
      return FinishReason.STOP;
  }
}
