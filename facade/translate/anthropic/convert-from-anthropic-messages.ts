import type { JsonObject } from "@bufbuild/protobuf";
import { Role, type ContentPart, type Message, type ReasoningBlock, type ToolCall } from "../../../gen/iir/inference/v1/inference_pb.js";
import { isJsonObject, readOptionalBoolean, readRequiredArray, readRequiredString } from "../openai-field-readers.js";
import { invalidType, invalidValue, missingParameter, RequestValidationError } from "../request-validation-error.js";
import { contentFromParts, contentPartFromAnthropic, readBlock, reasoningFromAnthropic, toolCallFromAnthropic } from "./convert-from-anthropic-content.js";

/**
 * Anthropic `system` and `messages` → proto messages. Parameter paths in errors are Anthropic's
 * (`messages.0.content.1.type`). A user turn's `tool_result` blocks become tool messages (placed
 * first, where OpenAI-style backends expect them right after the assistant's calls), the rest of the
 * turn one user message after them; an assistant turn's `tool_use` blocks become its tool calls and
 * its thinking blocks its reasoning.
 */
export function messagesFromAnthropic(system: unknown, messages: unknown): Message[] {
  const result: Message[] = [];
  const systemMessage = systemFromAnthropic(system);
  if (systemMessage !== undefined) result.push(systemMessage);
  const list = readRequiredArray(messages, "messages", 1);
  for (let index = 0; index < list.length; index++) {
    const param = `messages.${index}`;
    const entry = list[index];
    if (!isJsonObject(entry)) throw invalidType(param, "an object", entry);
    const role = readRequiredString(entry.role, `${param}.role`);
    if (role === "user") result.push(...userTurn(entry.content, `${param}.content`));
    else if (role === "assistant") result.push(assistantTurn(entry.content, `${param}.content`));
    else throw invalidValue(`${param}.role`, role, ["user", "assistant"]);
  }
  return result;
}

function systemFromAnthropic(value: unknown): Message | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value === "" ? undefined : message(Role.SYSTEM, { case: "text", value });
  if (!Array.isArray(value)) throw invalidType("system", "one of a string or array of text blocks", value);
  if (value.length === 0) return undefined;
  const parts = value.map((entry: unknown, index) => {
    const block = readBlock(entry, `system.${index}`);
    if (block.type !== "text") throw invalidValue(`system.${index}.type`, block.type, ["text"]);
    return contentPartFromAnthropic(block, `system.${index}`);
  });
  return message(Role.SYSTEM, contentFromParts(parts));
}

function userTurn(content: unknown, param: string): Message[] {
  if (typeof content === "string") return [message(Role.USER, { case: "text", value: content })];
  const blocks = readContentBlocks(content, param);
  const results: Message[] = [];
  const parts: ContentPart[] = [];
  blocks.forEach((block, index) => {
    const blockParam = `${param}.${index}`;
    if (block.type === "tool_result") results.push(toolResult(block, blockParam));
    else parts.push(contentPartFromAnthropic(block, blockParam));
  });
  if (parts.length > 0) results.push(message(Role.USER, contentFromParts(parts)));
  return results;
}

function toolResult(block: JsonObject, param: string): Message {
  const toolCallId = readRequiredString(block.tool_use_id, `${param}.tool_use_id`);
  const isError = readOptionalBoolean(block.is_error, `${param}.is_error`) ?? false;
  const value = block.content;
  let content: Message["content"];
  if (value === undefined || value === null) content = { case: "text", value: "" };
  else if (typeof value === "string") content = { case: "text", value };
  else {
    const blocks = readContentBlocks(value, `${param}.content`, 0);
    content = blocks.length === 0 ? { case: "text", value: "" } : contentFromParts(blocks.map((entry, index) => contentPartFromAnthropic(entry, `${param}.content.${index}`)));
  }
  return { ...message(Role.TOOL, content, cacheControlOf(block)), toolCallId, isError };
}

function assistantTurn(content: unknown, param: string): Message {
  if (typeof content === "string") return message(Role.ASSISTANT, { case: "text", value: content });
  const blocks = readContentBlocks(content, param, 0);
  const parts: ContentPart[] = [];
  const toolCalls: ToolCall[] = [];
  const reasoning: ReasoningBlock[] = [];
  let extra: JsonObject | undefined;
  blocks.forEach((block, index) => {
    const blockParam = `${param}.${index}`;
    if (block.type === "tool_use") {
      toolCalls.push(toolCallFromAnthropic(block, blockParam));
      // A cache breakpoint on a call marks the turn up to there: kept on the message.
      extra = cacheControlOf(block) ?? extra;
    } else if (block.type === "thinking" || block.type === "redacted_thinking") {
      reasoning.push(reasoningFromAnthropic(block, blockParam));
    } else {
      parts.push(contentPartFromAnthropic(block, blockParam));
    }
  });
  const body: Message["content"] = parts.length > 0 ? contentFromParts(parts) : toolCalls.length > 0 || reasoning.length > 0 ? { case: undefined } : { case: "text", value: "" };
  return { ...message(Role.ASSISTANT, body, extra), toolCalls, reasoning };
}

function readContentBlocks(value: unknown, param: string, minimum = 1): (JsonObject & { type: string })[] {
  if (value === undefined || value === null) throw missingParameter(param);
  if (!Array.isArray(value)) throw invalidType(param, "one of a string or array of content blocks", value);
  if (value.length < minimum) {
    throw new RequestValidationError(`${param}: a user message must have non-empty content.`, param, "empty_array");
  }
  return value.map((entry: unknown, index) => readBlock(entry, `${param}.${index}`));
}

function cacheControlOf(block: JsonObject): JsonObject | undefined {
  const cacheControl = block.cache_control;
  return cacheControl === undefined || cacheControl === null ? undefined : { cache_control: cacheControl };
}

function message(role: Role, content: Message["content"], extra?: JsonObject): Message {
  return {
    $typeName: "iir.inference.v1.Message",
    role,
    content,
    name: "",
    toolCalls: [],
    toolCallId: "",
    extra,
    reasoning: [],
    isError: false,
  };
}
