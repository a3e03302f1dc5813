import { resolveChatWrapper, type LlamaModel } from "node-llama-cpp";
import type { Message } from "../../../gen/iir/inference/v1/inference_pb.js";
import { chatHistoryFromMessages } from "./chat-history.js";

/**
 * The tokens a chat request's prompt takes on this model: the messages rendered by the model's own
 * chat template (with the opened assistant turn, as generation renders them), tokenized by its
 * tokenizer: the count a generation's usage reports as prompt tokens.
 */
export function countPromptTokens(model: LlamaModel, messages: readonly Message[]): number {
  const state = resolveChatWrapper(model).generateContextState({ chatHistory: chatHistoryFromMessages(messages) });
  return state.contextText.tokenize(model.tokenizer).length;
}
