import type { Usage } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { OpenAIUsage } from "../../../common/openai-types.js";
import { countOf, isRecord } from "./json-guards.js";

/**
 * Token usage an OpenAI-compatible upstream reported, or `undefined` when the value is not a usage
 * block. Cached prompt tokens and reasoning tokens come from the `*_details` objects OpenAI added;
 * servers that omit `total_tokens` get the sum.
 */
export function usageFromOpenAI(value: unknown): Usage | undefined {
  if (!isRecord(value)) return undefined;
  const promptTokens = countOf(value.prompt_tokens);
  const completionTokens = countOf(value.completion_tokens);
  const promptDetails = value.prompt_tokens_details;
  const completionDetails = value.completion_tokens_details;
  // Built as a literal: protobuf-es v2 messages are plain objects, and this runs once per stream.
  return {
    $typeName: "iir.inference.v1.Usage",
    promptTokens,
    completionTokens,
    totalTokens: value.total_tokens === undefined ? promptTokens + completionTokens : countOf(value.total_tokens),
    cachedPromptTokens: isRecord(promptDetails) ? countOf(promptDetails.cached_tokens) : 0,
    reasoningTokens: isRecord(completionDetails) ? countOf(completionDetails.reasoning_tokens) : 0,
    cacheCreationTokens: 0,
  };
}

/** OpenAI's usage block for the contract's usage, with both detail objects as OpenAI sends them. */
export function usageToOpenAI(usage: Usage): OpenAIUsage {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.totalTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedPromptTokens },
    completion_tokens_details: { reasoning_tokens: usage.reasoningTokens },
  };
}
