import type { ChatParams } from "../../../gen/iir/inference/v1/inference_pb.js";
import { messageText } from "./complexity.js";

/** What a request needs of a model: `auto` routing's hard filters, and its size for the cost estimate. */
export interface RequestNeeds {
  /** The request offers tools (the model must have the `tools` capability). */
  readonly tools: boolean;
  /** A message has an image part (`images`). */
  readonly images: boolean;
  /** `response_format` is `json_schema` (`json_schema`). */
  readonly jsonSchema: boolean;
  /** Estimated prompt tokens (about four characters a token, images at OpenAI's rates). */
  readonly promptTokens: number;
  /** The completion tokens the client allows (max_completion_tokens, else max_tokens); undefined: not limited. */
  readonly maxOutputTokens: number | undefined;
}

// Prompt tokens OpenAI bills per image: 85 at detail "low", and about a 512×512 tile set otherwise.
const lowDetailImageTokens = 85;
const imageTokens = 765;
// Role markers and separators the chat template adds around each message.
const messageOverheadTokens = 4;

/** The request's needs. No model's tokenizer is at hand on the routing path, so counts are estimates. */
export function requestNeeds(params: ChatParams): RequestNeeds {
  let characters = params.prompt?.length ?? 0;
  let images = 0;
  let lowDetailImages = 0;
  for (const message of params.messages) {
    characters += messageText(message).length;
    for (const call of message.toolCalls) characters += (call.function?.name.length ?? 0) + (call.function?.arguments.length ?? 0);
    if (message.content.case !== "parts") continue;
    for (const part of message.content.value.parts) {
      if (part.part.case !== "imageUrl") continue;
      if (part.part.value.detail === "low") lowDetailImages += 1;
      else images += 1;
    }
  }
  for (const tool of params.tools) {
    const definition = tool.function;
    if (definition === undefined) continue;
    characters += definition.name.length + definition.description.length;
    if (definition.parameters !== undefined) characters += JSON.stringify(definition.parameters).length;
  }
  const promptTokens =
    Math.ceil(characters / 4) + params.messages.length * messageOverheadTokens + images * imageTokens + lowDetailImages * lowDetailImageTokens;
  return {
    tools: params.tools.length > 0,
    images: images + lowDetailImages > 0,
    jsonSchema: params.responseFormat?.type === "json_schema",
    promptTokens,
    maxOutputTokens: params.maxCompletionTokens ?? params.maxTokens,
  };
}
