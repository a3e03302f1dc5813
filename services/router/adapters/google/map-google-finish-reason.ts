import { FinishReason } from "../../../../gen/iir/inference/v1/inference_pb.js";

// Gemini's reasons for stopping because a filter or policy cut the answer (or the prompt).
const filtered: ReadonlySet<string> = new Set([
  "SAFETY",
  "RECITATION",
  "BLOCKLIST",
  "PROHIBITED_CONTENT",
  "SPII",
  "IMAGE_SAFETY",
  "IMAGE_PROHIBITED_CONTENT",
  "IMAGE_RECITATION",
]);

/**
 * A Gemini `finishReason` as the contract's enum; absent or empty: not finished (UNSPECIFIED).
 * STOP is TOOL_CALLS when the candidate called a function (Gemini has no reason of its own for
 * that); MAX_TOKENS is LENGTH; the safety, recitation, blocklist and PII reasons are CONTENT_FILTER.
 * Every other reason (OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL…) still means the model stopped: STOP,
 * the raw reason travelling beside it.
 */
export function finishReasonFromGoogle(value: unknown, calledFunction: boolean): FinishReason {
  if (typeof value !== "string" || value === "") return FinishReason.UNSPECIFIED;
  if (value === "MAX_TOKENS") return FinishReason.LENGTH;
  if (filtered.has(value)) return FinishReason.CONTENT_FILTER;
  return calledFunction ? FinishReason.TOOL_CALLS : FinishReason.STOP;
}
