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
import { seedFromOpenAI, stopFromOpenAI } from "../convert-from-openai-request.js";
import { invalidType, missingParameter, RequestValidationError } from "../request-validation-error.js";

/** What the facade needs from one OpenAI (legacy) completions request. */
export interface ConvertedCompletionsRequest {
  readonly params: ChatParams;
  /** Whether the client asked for Server-Sent Events. */
  readonly stream: boolean;
  /** Whether the client asked for a final usage chunk (`stream_options.include_usage`). */
  readonly includeUsage: boolean;
}

const int32Maximum = 2_147_483_647;
const maximumChoices = 128;
// OpenAI's own default for the completions API (the chat API has none).
const defaultMaxTokens = 16;

const knownRequestFields: ReadonlySet<string> = new Set([
  "model", "prompt", "max_tokens", "temperature", "top_p", "n", "stop", "seed", "presence_penalty", "frequency_penalty",
  "user", "stream", "stream_options", "suffix", "echo", "logprobs", "best_of",
]);

/**
 * OpenAI completions JSON → `ChatParams` with `prompt` set and no messages, validated as OpenAI
 * validates it. `prompt` is one string (or an array holding one); token arrays and batches of
 * prompts are refused. `suffix`, `echo`, `logprobs` and `best_of` are refused when they would change
 * the answer: not every backend can honour them (local models, chat-only providers), and the answer
 * has nowhere to carry logprobs from the contract, so they are never silently dropped. Other fields
 * (`logit_bias`, provider extensions) go to `extra` as for chat.
 */
export function completionsParamsFromOpenAIRequest(body: unknown): ConvertedCompletionsRequest {
  if (!isJsonObject(body)) throw new RequestValidationError("The request body must be a JSON object.", null, "invalid_type");
  const model = readRequiredString(body.model, "model");
  if (model === "") throw missingParameter("model");
  refuseUnsupported(body);
  const stream = readOptionalBoolean(body.stream, "stream") ?? false;
  const streamOptions = readOptionalObject(body.stream_options, "stream_options");
  const includeUsage = streamOptions ? (readOptionalBoolean(streamOptions.include_usage, "stream_options.include_usage") ?? false) : false;
  const params: ChatParams = {
    $typeName: "iir.inference.v1.ChatParams",
    model,
    messages: [],
    prompt: promptFromOpenAI(body.prompt),
    tools: [],
    toolChoice: undefined,
    temperature: readOptionalNumber(body.temperature, "temperature", 0, 2),
    topP: readOptionalNumber(body.top_p, "top_p", 0, 1),
    maxTokens: readOptionalInteger(body.max_tokens, "max_tokens", 1, int32Maximum) ?? defaultMaxTokens,
    maxCompletionTokens: undefined,
    stop: stopFromOpenAI(body.stop),
    seed: seedFromOpenAI(body.seed),
    n: readOptionalInteger(body.n, "n", 1, maximumChoices),
    presencePenalty: readOptionalNumber(body.presence_penalty, "presence_penalty", -2, 2),
    frequencyPenalty: readOptionalNumber(body.frequency_penalty, "frequency_penalty", -2, 2),
    responseFormat: undefined,
    user: readOptionalString(body.user, "user") ?? "",
    streamOptions: streamOptions ? { $typeName: "iir.inference.v1.StreamOptions", includeUsage } : undefined,
    extra: collectExtraFields(body, knownRequestFields),
    topK: undefined,
    reasoningBudgetTokens: undefined,
  };
  return { params, stream, includeUsage };
}

/** A string, or an array of exactly one string; token arrays and several prompts are refused. */
function promptFromOpenAI(value: unknown): string {
  if (value === undefined || value === null) throw missingParameter("prompt");
  if (typeof value === "string") return value;
  if (!Array.isArray(value)) throw invalidType("prompt", "a string or an array of one string", value);
  if (value.length === 1 && typeof value[0] === "string") return value[0];
  const what = value.length === 0 ? "an empty array" : typeof value[0] === "number" || Array.isArray(value[0]) ? "token ids" : `an array of ${value.length} prompts`;
  throw new RequestValidationError(
    `Invalid 'prompt': this gateway takes one text prompt per request (a string, or an array of one string), but got ${what}. Send one request per prompt.`,
    "prompt",
    "unsupported_value",
  );
}

/**
 * Fields of the completions API the contract cannot carry to every backend: refused with a clear
 * message when they ask for something, accepted when they ask for the default.
 */
function refuseUnsupported(body: Record<string, unknown>): void {
  const echo = readOptionalBoolean(body.echo, "echo");
  if (echo === true) throw unsupported("echo", "'echo' is not supported: the answer holds only the completion; prepend the prompt yourself.");
  const suffix = readOptionalString(body.suffix, "suffix");
  if (suffix !== undefined && suffix !== "") throw unsupported("suffix", "'suffix' (insertion) is not supported by this gateway.");
  if (body.logprobs !== undefined && body.logprobs !== null && body.logprobs !== 0) {
    throw unsupported("logprobs", "'logprobs' is not supported on /v1/completions by this gateway.");
  }
  const bestOf = readOptionalInteger(body.best_of, "best_of", 1, maximumChoices);
  if (bestOf !== undefined && bestOf !== 1) throw unsupported("best_of", "'best_of' is not supported by this gateway; use 'n' for several choices.");
}

function unsupported(param: string, message: string): RequestValidationError {
  return new RequestValidationError(message, param, "unsupported_parameter");
}
