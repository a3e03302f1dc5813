import type {
  ChatResponse,
  ChatStreamResponse,
  Message,
  ToolCallDelta,
  Usage,
} from "../../gen/iir/inference/v1/inference_pb.js";
import type {
  OpenAIChatChunk,
  OpenAIChatCompletion,
  OpenAIChunkToolCall,
  OpenAIToolCall,
  OpenAIUsage,
} from "../../services/common/openai-types.js";
import { finishReasonToOpenAI } from "./map-openai-finish-reason.js";

/** One entry of a chunk's `choices`. */
export type OpenAIChunkChoice = OpenAIChatChunk["choices"][number];

/** An answer message: the typed fields plus whatever the backend left in `Message.extra`. */
export type OpenAIResponseMessage = OpenAIChatCompletion["choices"][number]["message"] & Record<string, unknown>;

/** What the facade decided about a completion before the backend answered. */
export interface CompletionIdentity {
  readonly id: string;
  /** Unix seconds. */
  readonly created: number;
  /** The model the client asked for; used when the backend reports none. */
  readonly requestedModel: string;
}

/** Proto usage → OpenAI usage; the detail objects appear only when the backend counted them. */
export function usageToOpenAI(usage: Usage): OpenAIUsage {
  const result: OpenAIUsage = {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.totalTokens || usage.promptTokens + usage.completionTokens,
  };
  if (usage.cachedPromptTokens > 0) result.prompt_tokens_details = { cached_tokens: usage.cachedPromptTokens };
  if (usage.reasoningTokens > 0) result.completion_tokens_details = { reasoning_tokens: usage.reasoningTokens };
  return result;
}

/** A whole `ChatResponse` → OpenAI `chat.completion`. */
export function chatCompletionFromResponse(response: ChatResponse, identity: CompletionIdentity): OpenAIChatCompletion {
  const created = Number(response.created);
  const completion: OpenAIChatCompletion = {
    id: response.id || identity.id,
    object: "chat.completion",
    created: created > 0 ? created : identity.created,
    model: response.model || identity.requestedModel,
    choices: response.choices.map((choice) => ({
      index: choice.index,
      message: responseMessageToOpenAI(choice.message),
      // A backend that did not say why it stopped most likely just finished.
      finish_reason: finishReasonToOpenAI(choice.finishReason) ?? "stop",
      logprobs: null,
    })),
  };
  if (response.usage) completion.usage = usageToOpenAI(response.usage);
  return completion;
}

function responseMessageToOpenAI(message: Message | undefined): OpenAIResponseMessage {
  const extra = message?.extra;
  const refusal = typeof extra?.refusal === "string" ? extra.refusal : null;
  const result: OpenAIResponseMessage = { role: "assistant", content: contentText(message), refusal };
  if (message && message.toolCalls.length > 0) {
    result.tool_calls = message.toolCalls.map(
      (call): OpenAIToolCall => ({
        id: call.id,
        type: "function",
        function: { name: call.function?.name ?? "", arguments: call.function?.arguments ?? "" },
      }),
    );
  }
  // Fields the backend passed through (reasoning_content, annotations…) reach the client as sent.
  // Own keys only, on both sides: an extra named `constructor` or `toString` is a field like any other,
  // and `__proto__` would replace the answer's prototype instead of adding a field.
  if (extra) {
    for (const key of Object.keys(extra)) if (!Object.hasOwn(result, key) && key !== "__proto__") result[key] = extra[key];
  }
  return result;
}

function contentText(message: Message | undefined): string | null {
  const content = message?.content;
  if (content?.case === "text") return content.value;
  if (content?.case !== "parts") return null;
  let text = "";
  for (const part of content.value.parts) if (part.part.case === "text") text += part.part.value;
  return text;
}

/** The choice that opens each choice's stream, as OpenAI sends it. */
export function roleChunkChoice(index: number): OpenAIChunkChoice {
  return { index, delta: { role: "assistant", content: "" }, finish_reason: null };
}

/**
 * One stream part → the chunk choice it becomes; undefined for parts that are not choice deltas
 * (usage, which the stream writer places in its own final chunk, and empty events).
 */
export function chunkChoiceFromStreamPart(part: ChatStreamResponse): OpenAIChunkChoice | undefined {
  const index = part.choiceIndex;
  const event = part.event;
  switch (event.case) {
    case "text":
      return { index, delta: { content: event.value.text }, finish_reason: null };
    case "reasoning":
      return { index, delta: { reasoning_content: event.value.text }, finish_reason: null };
    case "toolCall":
      return { index, delta: { tool_calls: [toolCallDeltaToOpenAI(event.value)] }, finish_reason: null };
    case "finish":
      return { index, delta: {}, finish_reason: finishReasonToOpenAI(event.value.reason) ?? "stop" };
    default:
      return undefined;
  }
}

function toolCallDeltaToOpenAI(delta: ToolCallDelta): OpenAIChunkToolCall {
  // OpenAI names the call (id, type, name) in its first delta only; later deltas carry arguments.
  const call: OpenAIChunkToolCall = { index: delta.index };
  if (delta.id !== "") {
    call.id = delta.id;
    call.type = "function";
  }
  call.function = delta.name !== "" ? { name: delta.name, arguments: delta.arguments } : { arguments: delta.arguments };
  return call;
}

/**
 * The constant start of every chunk of one stream, up to the opening of `choices`: id, created and
 * model never change within a stream, so they are serialized once and each chunk only serializes
 * its own choice.
 */
export function chunkPrefix(id: string, created: number, model: string): string {
  return `data: {"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"choices":[`;
}

/** A complete SSE event for one choice. */
export function chunkEvent(prefix: string, choice: OpenAIChunkChoice): string {
  return `${prefix}${JSON.stringify(choice)}]}\n\n`;
}

/**
 * The SSE event of one stream part: the same text as `chunkEvent(prefix, chunkChoiceFromStreamPart(part))`,
 * but text and reasoning deltas, nearly every part of a stream, are written straight into the
 * template instead of being built as objects and serialized; undefined for parts that are not
 * choice deltas.
 */
export function partEvent(prefix: string, part: ChatStreamResponse): string | undefined {
  const event = part.event;
  if (event.case === "text") {
    return `${prefix}{"index":${part.choiceIndex},"delta":{"content":${JSON.stringify(event.value.text)}},"finish_reason":null}]}\n\n`;
  }
  if (event.case === "reasoning") {
    return `${prefix}{"index":${part.choiceIndex},"delta":{"reasoning_content":${JSON.stringify(event.value.text)}},"finish_reason":null}]}\n\n`;
  }
  const choice = chunkChoiceFromStreamPart(part);
  return choice === undefined ? undefined : chunkEvent(prefix, choice);
}

/** The final usage chunk: no choices, only usage (`stream_options.include_usage`). */
export function usageChunkEvent(prefix: string, usage: Usage): string {
  return `${prefix}],"usage":${JSON.stringify(usageToOpenAI(usage))}}\n\n`;
}
