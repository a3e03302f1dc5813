import type { Usage } from "../../../../gen/iir/inference/v1/inference_pb.js";
import { countOf, isRecord } from "../openai-compatible/json-guards.js";

/**
 * Gemini's `usageMetadata` as the contract's usage, or `undefined` when the value is not one.
 * Gemini counts the model's thoughts apart from its answer (`thoughtsTokenCount`); both are billed
 * as output, so completion tokens are their sum and reasoning tokens the thoughts alone, as OpenAI
 * counts them. Cached prompt tokens (`cachedContentTokenCount`) are part of `promptTokenCount`.
 */
export function usageFromGoogle(value: unknown): Usage | undefined {
  if (!isRecord(value)) return undefined;
  const promptTokens = countOf(value.promptTokenCount);
  const reasoningTokens = countOf(value.thoughtsTokenCount);
  const completionTokens = countOf(value.candidatesTokenCount) + reasoningTokens;
  return {
    $typeName: "iir.inference.v1.Usage",
    promptTokens,
    completionTokens,
    totalTokens: value.totalTokenCount === undefined ? promptTokens + completionTokens : countOf(value.totalTokenCount),
    cachedPromptTokens: countOf(value.cachedContentTokenCount),
    reasoningTokens,
    cacheCreationTokens: 0,
  };
}
