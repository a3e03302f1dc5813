import type { ChatResponse, ChatStreamResponse, Message, Usage } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { OpenAIFinishReason, OpenAIUsage } from "../../../services/common/openai-types.js";
import type { CompletionIdentity } from "../convert-to-openai-response.js";
import { usageToOpenAI } from "../convert-to-openai-response.js";
import { finishReasonToOpenAI } from "../map-openai-finish-reason.js";

/** One choice of OpenAI's `text_completion`, whole or streamed. */
export interface OpenAITextChoice {
  text: string;
  index: number;
  logprobs: null;
  finish_reason: OpenAIFinishReason | null;
}

/** OpenAI's `text_completion` object (the legacy completions API). */
export interface OpenAITextCompletion {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  choices: OpenAITextChoice[];
  usage?: OpenAIUsage;
}

/** A whole `ChatResponse` → OpenAI `text_completion`: each choice's message text is the continuation. */
export function textCompletionFromResponse(response: ChatResponse, identity: CompletionIdentity): OpenAITextCompletion {
  const created = Number(response.created);
  const completion: OpenAITextCompletion = {
    id: identity.id,
    object: "text_completion",
    created: created > 0 ? created : identity.created,
    model: response.model || identity.requestedModel,
    choices: response.choices.map((choice) => ({
      text: messageText(choice.message),
      index: choice.index,
      logprobs: null,
      finish_reason: finishReasonToOpenAI(choice.finishReason) ?? "stop",
    })),
  };
  if (response.usage) completion.usage = usageToOpenAI(response.usage);
  return completion;
}

function messageText(message: Message | undefined): string {
  const content = message?.content;
  if (content?.case === "text") return content.value;
  if (content?.case !== "parts") return "";
  let text = "";
  for (const part of content.value.parts) if (part.part.case === "text") text += part.part.value;
  return text;
}

/** The constant start of every chunk of one stream, up to the opening of `choices` (see chunkPrefix for chat). */
export function textChunkPrefix(id: string, created: number, model: string): string {
  return `data: {"id":${JSON.stringify(id)},"object":"text_completion","created":${created},"model":${JSON.stringify(model)},"choices":[`;
}

/** A complete SSE event for one text choice. */
export function textChunkEvent(prefix: string, index: number, text: string, finishReason: OpenAIFinishReason | null): string {
  return `${prefix}{"text":${JSON.stringify(text)},"index":${index},"logprobs":null,"finish_reason":${finishReason === null ? "null" : JSON.stringify(finishReason)}}]}\n\n`;
}

/**
 * One stream part → its SSE event: a text delta or a finish; undefined for parts a text completion
 * has no place for (usage, which goes in the final chunk, reasoning, tool calls).
 */
export function textPartEvent(prefix: string, part: ChatStreamResponse): string | undefined {
  const event = part.event;
  if (event.case === "text") return event.value.text === "" ? undefined : textChunkEvent(prefix, part.choiceIndex, event.value.text, null);
  if (event.case === "finish") return textChunkEvent(prefix, part.choiceIndex, "", finishReasonToOpenAI(event.value.reason) ?? "stop");
  return undefined;
}

/** The final usage chunk: no choices, only usage (`stream_options.include_usage`). */
export function textUsageChunkEvent(prefix: string, usage: Usage): string {
  return `${prefix}],"usage":${JSON.stringify(usageToOpenAI(usage))}}\n\n`;
}
