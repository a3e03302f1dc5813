import type { JsonObject } from "@bufbuild/protobuf";
import type { ChatParams } from "../../../gen/iir/inference/v1/inference_pb.js";
import {
  collectExtraFields,
  isJsonObject,
  readOptionalBoolean,
  readOptionalInteger,
  readOptionalNumber,
  readOptionalObject,
  readOptionalString,
  readRequiredString,
} from "../openai-field-readers.js";
import { invalidType, missingParameter, RequestValidationError } from "../request-validation-error.js";
import { messagesFromAnthropic } from "./convert-from-anthropic-messages.js";
import { toolChoiceFromAnthropic, toolsFromAnthropic } from "./convert-from-anthropic-tools.js";

/** What the facade needs from one Anthropic Messages request. */
export interface ConvertedMessagesRequest {
  readonly params: ChatParams;
  /** Whether the client asked for Server-Sent Events. */
  readonly stream: boolean;
}

/** How to read the body: a Messages request, or a count_tokens request (no `max_tokens`, no sampling). */
export interface MessagesRequestOptions {
  readonly counting?: boolean;
}

const int32Maximum = 2_147_483_647;

const knownRequestFields: ReadonlySet<string> = new Set([
  "model", "messages", "system", "max_tokens", "stop_sequences", "stream", "temperature", "top_p", "top_k",
  "tools", "tool_choice", "thinking", "metadata",
]);

/**
 * Anthropic Messages JSON → `ChatParams`, validated as Anthropic validates it (the first problem
 * throws a RequestValidationError naming the field as Anthropic does, `messages.0.role`).
 * `max_tokens` is required, as at Anthropic. `metadata.user_id` becomes `user`; extended thinking
 * becomes `reasoning_budget_tokens`; fields without a typed home go to `extra` untouched.
 */
export function chatParamsFromAnthropicRequest(body: unknown, options: MessagesRequestOptions = {}): ConvertedMessagesRequest {
  if (!isJsonObject(body)) throw new RequestValidationError("The request body must be a JSON object.", null, "invalid_type");
  const model = readRequiredString(body.model, "model");
  if (model === "") throw missingParameter("model");
  const counting = options.counting === true;
  const maxTokens = readOptionalInteger(body.max_tokens, "max_tokens", 1, int32Maximum);
  if (maxTokens === undefined && !counting) throw missingParameter("max_tokens");
  const { toolChoice, disableParallel } = toolChoiceFromAnthropic(body.tool_choice);
  let extra = collectExtraFields(body, knownRequestFields);
  if (disableParallel) extra = { ...extra, parallel_tool_calls: false };
  const thinking = thinkingFromAnthropic(body.thinking);
  if (thinking.extra !== undefined) extra = { ...extra, thinking: thinking.extra };
  const params: ChatParams = {
    $typeName: "iir.inference.v1.ChatParams",
    model,
    messages: messagesFromAnthropic(body.system, body.messages),
    tools: toolsFromAnthropic(body.tools),
    toolChoice,
    temperature: readOptionalNumber(body.temperature, "temperature", 0, 1),
    topP: readOptionalNumber(body.top_p, "top_p", 0, 1),
    topK: readOptionalInteger(body.top_k, "top_k", 0, int32Maximum),
    maxTokens,
    maxCompletionTokens: undefined,
    stop: stopSequencesFromAnthropic(body.stop_sequences),
    seed: undefined,
    n: undefined,
    presencePenalty: undefined,
    frequencyPenalty: undefined,
    responseFormat: undefined,
    user: userFromMetadata(body.metadata),
    streamOptions: undefined,
    extra,
    prompt: undefined,
    reasoningBudgetTokens: thinking.budget,
  };
  return { params, stream: counting ? false : (readOptionalBoolean(body.stream, "stream") ?? false) };
}

function stopSequencesFromAnthropic(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidType("stop_sequences", "an array of strings", value);
  for (let index = 0; index < value.length; index++) {
    if (typeof value[index] !== "string") throw invalidType(`stop_sequences.${index}`, "a string", value[index]);
  }
  return value as string[];
}

function userFromMetadata(value: unknown): string {
  const metadata = readOptionalObject(value, "metadata");
  return metadata === undefined ? "" : (readOptionalString(metadata.user_id, "metadata.user_id") ?? "");
}

/**
 * `{type: "enabled", budget_tokens}` → a reasoning budget; `{type: "disabled"}` → none; any other
 * type (a newer API's) travels in `extra.thinking` as the client sent it.
 */
function thinkingFromAnthropic(value: unknown): { budget?: number; extra?: JsonObject } {
  const thinking = readOptionalObject(value, "thinking");
  if (thinking === undefined) return {};
  const type = readRequiredString(thinking.type, "thinking.type");
  if (type === "disabled") return {};
  if (type !== "enabled") return { extra: thinking };
  const budget = readOptionalInteger(thinking.budget_tokens, "thinking.budget_tokens", 1, int32Maximum);
  if (budget === undefined) throw missingParameter("thinking.budget_tokens");
  return { budget };
}
