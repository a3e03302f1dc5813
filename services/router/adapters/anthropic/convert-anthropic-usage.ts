import type { Usage } from "../../../../gen/iir/inference/v1/inference_pb.js";
import { countOf, isRecord } from "../openai-compatible/json-guards.js";

/** Counts of one answer's usage, as Anthropic reports them apart. */
export interface AnthropicTokenCounts {
  input: number;
  output: number;
  cacheRead: number;
  cacheCreation: number;
}

/** Counts of nothing yet. */
export function noTokens(): AnthropicTokenCounts {
  return { input: 0, output: 0, cacheRead: 0, cacheCreation: 0 };
}

/**
 * Folds a usage block into `counts`: a field present replaces the count (streamed usage is cumulative,
 * and `message_delta` may repeat the input counts or leave them out). Returns whether it was a usage block.
 */
export function addAnthropicUsage(counts: AnthropicTokenCounts, value: unknown): boolean {
  if (!isRecord(value)) return false;
  if (typeof value.input_tokens === "number") counts.input = countOf(value.input_tokens);
  if (typeof value.output_tokens === "number") counts.output = countOf(value.output_tokens);
  if (typeof value.cache_read_input_tokens === "number") counts.cacheRead = countOf(value.cache_read_input_tokens);
  if (typeof value.cache_creation_input_tokens === "number") counts.cacheCreation = countOf(value.cache_creation_input_tokens);
  return true;
}

/**
 * The contract's usage. Anthropic's `input_tokens` leaves out the tokens read from and written to its
 * prompt cache; the contract's prompt_tokens is the whole input, with those two parts named inside it.
 */
export function usageFromAnthropic(counts: AnthropicTokenCounts): Usage {
  const promptTokens = counts.input + counts.cacheRead + counts.cacheCreation;
  return {
    $typeName: "iir.inference.v1.Usage",
    promptTokens,
    completionTokens: counts.output,
    totalTokens: promptTokens + counts.output,
    cachedPromptTokens: counts.cacheRead,
    // Anthropic counts thinking inside output_tokens and does not say how much of it there was.
    reasoningTokens: 0,
    cacheCreationTokens: counts.cacheCreation,
  };
}
