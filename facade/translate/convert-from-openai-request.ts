import type { ChatParams } from "../../gen/iir/inference/v1/inference_pb.js";
import { messagesFromOpenAI } from "./convert-from-openai-messages.js";
import { responseFormatFromOpenAI, toolChoiceFromOpenAI, toolsFromOpenAI } from "./convert-from-openai-tools.js";
import {
  collectExtraFields,
  isJsonObject,
  readOptionalBoolean,
  readOptionalInteger,
  readOptionalNumber,
  readOptionalObject,
  readOptionalString,
  readRequiredString,
} from "./openai-field-readers.js";
import { invalidType, missingParameter, RequestValidationError } from "./request-validation-error.js";

/** What the facade needs from one OpenAI chat completion request. */
export interface ConvertedChatRequest {
  readonly params: ChatParams;
  /** Whether the client asked for Server-Sent Events. */
  readonly stream: boolean;
  /** Whether the client asked for a final usage chunk (`stream_options.include_usage`). */
  readonly includeUsage: boolean;
}

const int32Maximum = 2_147_483_647;
// Exclusive: 2^63 is the first double past int64's range, so `< 2^63` keeps BigInt() in range.
const int64Bound = 2 ** 63;
const maximumStopSequences = 4;
const maximumChoices = 128;

const knownRequestFields: ReadonlySet<string> = new Set([
  "model", "messages", "tools", "tool_choice", "temperature", "top_p", "max_tokens", "max_completion_tokens",
  "stop", "seed", "n", "presence_penalty", "frequency_penalty", "response_format", "user", "stream", "stream_options",
]);

/**
 * OpenAI chat completion JSON → `ChatParams`, validated as OpenAI validates it: the first problem
 * throws a RequestValidationError naming the parameter (`messages[0].role`). Fields without a typed
 * home go to `extra` untouched, so provider extensions reach the upstream.
 */
export function chatParamsFromOpenAIRequest(body: unknown): ConvertedChatRequest {
  if (!isJsonObject(body)) {
    throw new RequestValidationError("The request body must be a JSON object.", null, "invalid_type");
  }
  const model = readRequiredString(body.model, "model");
  if (model === "") throw missingParameter("model");
  const stream = readOptionalBoolean(body.stream, "stream") ?? false;
  const streamOptions = readOptionalObject(body.stream_options, "stream_options");
  const includeUsage = streamOptions
    ? (readOptionalBoolean(streamOptions.include_usage, "stream_options.include_usage") ?? false)
    : false;
  // A literal rather than create(): protobuf-es messages are plain objects, and the type checker
  // holds the literal to every field; create() walks the schema for each request.
  const params: ChatParams = {
    $typeName: "iir.inference.v1.ChatParams",
    model,
    messages: messagesFromOpenAI(body.messages),
    tools: toolsFromOpenAI(body.tools),
    toolChoice: toolChoiceFromOpenAI(body.tool_choice),
    temperature: readOptionalNumber(body.temperature, "temperature", 0, 2),
    topP: readOptionalNumber(body.top_p, "top_p", 0, 1),
    maxTokens: readOptionalInteger(body.max_tokens, "max_tokens", 1, int32Maximum),
    maxCompletionTokens: readOptionalInteger(body.max_completion_tokens, "max_completion_tokens", 1, int32Maximum),
    stop: stopFromOpenAI(body.stop),
    seed: seedFromOpenAI(body.seed),
    n: readOptionalInteger(body.n, "n", 1, maximumChoices),
    presencePenalty: readOptionalNumber(body.presence_penalty, "presence_penalty", -2, 2),
    frequencyPenalty: readOptionalNumber(body.frequency_penalty, "frequency_penalty", -2, 2),
    responseFormat: responseFormatFromOpenAI(body.response_format),
    user: readOptionalString(body.user, "user") ?? "",
    streamOptions: streamOptions ? { $typeName: "iir.inference.v1.StreamOptions", includeUsage } : undefined,
    extra: collectExtraFields(body, knownRequestFields),
  };
  return { params, stream, includeUsage };
}

/** OpenAI's `stop`: a string or up to four strings. */
export function stopFromOpenAI(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === "string") return [value];
  if (!Array.isArray(value)) throw invalidType("stop", "one of a string or array of strings", value);
  if (value.length > maximumStopSequences) {
    throw new RequestValidationError(
      `Invalid 'stop': array too long. Expected an array with maximum length ${maximumStopSequences}, but got an array with length ${value.length} instead.`,
      "stop",
      "array_above_max_length",
    );
  }
  for (let index = 0; index < value.length; index++) {
    if (typeof value[index] !== "string") throw invalidType(`stop[${index}]`, "a string", value[index]);
  }
  return value as string[];
}

/** OpenAI's `seed`, within int64. */
export function seedFromOpenAI(value: unknown): bigint | undefined {
  const seed = readOptionalInteger(value, "seed", -int64Bound, int64Bound);
  if (seed === undefined) return undefined;
  if (seed >= int64Bound) {
    throw new RequestValidationError(
      `Invalid 'seed': integer above maximum value. Expected a value <= 9223372036854775807, but got ${seed} instead.`,
      "seed",
      "integer_above_max_value",
    );
  }
  return BigInt(seed);
}
