import { Role, type ChatResponse, type Usage } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { CacheEntry } from "./response-cache.js";

/**
 * A stored answer of the usual shape (one choice of plain text, no tool calls, nothing passed
 * through) as one flat object. The in-process cache holds its last CACHE_MAX_ENTRIES answers, which
 * outlive the garbage collector's young generation: kept as message trees, they cost it eight
 * objects each to copy, promote and mark, and under load that was ~5% of the gateway's time.
 */
export interface CompactEntry {
  readonly expiresAt: number;
  readonly id: string;
  readonly created: bigint;
  readonly model: string;
  readonly backend: string;
  readonly cached: boolean;
  readonly index: number;
  readonly finishReason: number;
  readonly text: string;
  /** Usage as five counts; `promptTokens` -1: the answer had no usage. */
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
  readonly cachedPromptTokens: number;
  readonly reasoningTokens: number;
}

/** The entry in its compact form, or undefined when its answer has another shape (then it is kept as it is). */
export function compactEntry(entry: CacheEntry): CompactEntry | undefined {
  const response = entry.response;
  if (response.choices.length !== 1 || response.$unknown !== undefined) return undefined;
  const choice = response.choices[0]!;
  const message = choice.message;
  if (choice.$unknown !== undefined || message === undefined || message.$unknown !== undefined) return undefined;
  if (message.role !== Role.ASSISTANT || message.content.case !== "text" || message.name !== "" || message.toolCalls.length > 0) return undefined;
  if (message.toolCallId !== "" || message.extra !== undefined || message.reasoning.length > 0 || message.isError) return undefined;
  if (choice.rawFinishReason !== "" || choice.stopSequence !== "") return undefined;
  const usage = response.usage;
  if (usage !== undefined && (usage.$unknown !== undefined || usage.promptTokens < 0 || usage.cacheCreationTokens !== 0)) return undefined;
  return {
    expiresAt: entry.expiresAt,
    id: response.id,
    created: response.created,
    model: response.model,
    backend: response.backend,
    cached: response.cached,
    index: choice.index,
    finishReason: choice.finishReason,
    text: message.content.value,
    promptTokens: usage?.promptTokens ?? -1,
    completionTokens: usage?.completionTokens ?? 0,
    totalTokens: usage?.totalTokens ?? 0,
    cachedPromptTokens: usage?.cachedPromptTokens ?? 0,
    reasoningTokens: usage?.reasoningTokens ?? 0,
  };
}

/** The entry a compact one was made from, as new objects. */
export function expandEntry(compact: CompactEntry): CacheEntry {
  const usage: Usage | undefined =
    compact.promptTokens < 0
      ? undefined
      : {
          $typeName: "iir.inference.v1.Usage",
          promptTokens: compact.promptTokens,
          completionTokens: compact.completionTokens,
          totalTokens: compact.totalTokens,
          cachedPromptTokens: compact.cachedPromptTokens,
          reasoningTokens: compact.reasoningTokens,
          cacheCreationTokens: 0,
        };
  const response: ChatResponse = {
    $typeName: "iir.inference.v1.ChatResponse",
    id: compact.id,
    created: compact.created,
    model: compact.model,
    choices: [
      {
        $typeName: "iir.inference.v1.Choice",
        index: compact.index,
        finishReason: compact.finishReason,
        rawFinishReason: "",
        stopSequence: "",
        message: {
          $typeName: "iir.inference.v1.Message",
          role: Role.ASSISTANT,
          content: { case: "text", value: compact.text },
          name: "",
          toolCalls: [],
          toolCallId: "",
          reasoning: [],
          isError: false,
        },
      },
    ],
    usage,
    backend: compact.backend,
    cached: compact.cached,
  };
  return { response, expiresAt: compact.expiresAt };
}
