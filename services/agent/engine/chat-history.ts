import type { ChatHistoryItem } from "node-llama-cpp";
import { Role, type Message } from "../../../gen/iir/inference/v1/inference_pb.js";

/**
 * Messages → node-llama-cpp's chat history, which the model's own chat template renders. System and
 * developer messages become the system turn; tool results and assistant tool calls are kept as text
 * so a template without tool support still sees what happened.
 */
export function chatHistoryFromMessages(messages: readonly Message[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  for (const message of messages) {
    const text = messageText(message);
    switch (message.role) {
      case Role.SYSTEM:
      case Role.DEVELOPER:
        history.push({ type: "system", text });
        break;
      case Role.ASSISTANT: {
        const calls = message.toolCalls.map((call) => `${call.function?.name ?? ""}(${call.function?.arguments ?? ""})`).join("\n");
        history.push({ type: "model", response: [calls === "" ? text : `${text}${text === "" ? "" : "\n"}${calls}`] });
        break;
      }
      case Role.TOOL:
        history.push({ type: "user", text: `Tool result${message.toolCallId ? ` (${message.toolCallId})` : ""}: ${text}` });
        break;
      default:
        history.push({ type: "user", text });
    }
  }
  // The generation prompt: the template opens an assistant turn after the last message.
  history.push({ type: "model", response: [] });
  return history;
}

function messageText(message: Message): string {
  const content = message.content;
  if (content.case === "text") return content.value;
  if (content.case !== "parts") return "";
  return content.value.parts
    .map((part) => {
      if (part.part.case === "text") return part.part.value;
      // A text part with fields of its own (Anthropic's cache_control, as Claude Code marks its
      // system prompt) travels as `other` in OpenAI's part shape: its text is still the prompt.
      if (part.part.case === "other" && part.part.value.type === "text" && typeof part.part.value.text === "string") return part.part.value.text;
      return "";
    })
    .filter((text) => text !== "")
    .join("\n");
}
