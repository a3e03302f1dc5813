import { randomUUID } from "node:crypto";
import type { ChatResponse, Message, ToolCall, Usage } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { AnthropicContentBlock, AnthropicMessage, AnthropicToolUseBlock, AnthropicUsage } from "./anthropic-types.js";
import { stopReasonToAnthropic } from "./map-anthropic-stop-reason.js";

/** A fresh Anthropic-style message id, `msg_` and 32 hex digits. */
export function createMessageId(): string {
  return `msg_${randomUUID().replaceAll("-", "")}`;
}

/** A fresh tool-use id, for backends that did not name their calls. */
export function createToolUseId(): string {
  return `toolu_${randomUUID().replaceAll("-", "")}`;
}

/**
 * Proto usage → Anthropic usage. The contract counts cache reads and writes inside prompt_tokens;
 * Anthropic's input_tokens is the rest.
 */
export function usageToAnthropic(usage: Usage | undefined): AnthropicUsage {
  if (usage === undefined) return { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };
  return {
    input_tokens: Math.max(0, usage.promptTokens - usage.cachedPromptTokens - usage.cacheCreationTokens),
    output_tokens: usage.completionTokens,
    cache_read_input_tokens: usage.cachedPromptTokens,
    cache_creation_input_tokens: usage.cacheCreationTokens,
  };
}

/**
 * A whole `ChatResponse` → Anthropic's `message`: thinking blocks, then the text, then one
 * `tool_use` block per call, from the first choice (Anthropic answers one).
 */
export function anthropicMessageFromResponse(response: ChatResponse, id: string, requestedModel: string): AnthropicMessage {
  const choice = response.choices[0];
  const message = choice?.message;
  const content: AnthropicContentBlock[] = thinkingBlocks(message);
  const text = contentText(message);
  if (text !== "") content.push({ type: "text", text });
  for (const call of message?.toolCalls ?? []) content.push(toolUseBlock(call));
  const stopSequence = choice?.stopSequence ?? "";
  const stopReason = stopReasonToAnthropic({
    reason: choice?.finishReason ?? 0,
    rawReason: choice?.rawFinishReason ?? "",
    stopSequence,
    hasToolCalls: (message?.toolCalls.length ?? 0) > 0,
  });
  return {
    id: response.id.startsWith("msg_") ? response.id : id,
    type: "message",
    role: "assistant",
    model: response.model || requestedModel,
    content,
    stop_reason: stopReason,
    stop_sequence: stopReason === "stop_sequence" && stopSequence !== "" ? stopSequence : null,
    stop_details: null,
    usage: usageToAnthropic(response.usage),
  };
}

/** A call's JSON arguments as the block's input; text that is not a JSON object gives `{}`. */
export function toolInputFromArguments(text: string): unknown {
  if (text.trim() === "") return {};
  try {
    const input: unknown = JSON.parse(text);
    return typeof input === "object" && input !== null && !Array.isArray(input) ? input : {};
  } catch {
    return {};
  }
}

function toolUseBlock(call: ToolCall): AnthropicToolUseBlock {
  return { type: "tool_use", id: call.id || createToolUseId(), name: call.function?.name ?? "", input: toolInputFromArguments(call.function?.arguments ?? "") };
}

/**
 * The message's reasoning blocks; an OpenAI-style backend's `reasoning_content` (DeepSeek, vLLM),
 * which its adapter leaves in `extra`, counts as one unsigned thinking block.
 */
function thinkingBlocks(message: Message | undefined): AnthropicContentBlock[] {
  if (message === undefined) return [];
  const blocks: AnthropicContentBlock[] = message.reasoning.map((block) =>
    block.redactedData !== "" ? { type: "redacted_thinking", data: block.redactedData } : { type: "thinking", thinking: block.text, signature: block.signature },
  );
  const passed = message.extra?.reasoning_content ?? message.extra?.reasoning;
  if (blocks.length === 0 && typeof passed === "string" && passed !== "") blocks.push({ type: "thinking", thinking: passed, signature: "" });
  return blocks;
}

function contentText(message: Message | undefined): string {
  const content = message?.content;
  if (content?.case === "text") return content.value;
  if (content?.case !== "parts") return "";
  let text = "";
  for (const part of content.value.parts) {
    if (part.part.case === "text") text += part.part.value;
    else if (part.part.case === "other" && part.part.value.type === "text" && typeof part.part.value.text === "string") text += part.part.value.text;
  }
  return text;
}
