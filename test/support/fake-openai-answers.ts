/**
 * What the fake OpenAI upstream answers, as OpenAI's own wire format: `chat.completion` bodies,
 * `chat.completion.chunk` sequences and error bodies. Pure functions of the request, so a test can
 * predict every byte: the answer text is `echo: <last user message>`.
 */

/** A request body as the fake received it (`{}` when it was not a JSON object). */
export type FakeRequestBody = Record<string, unknown>;

/** OpenAI's error object, as it sits inside `{"error": …}`. */
export interface FakeErrorFields {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

/** One function call the fake answers with. */
export interface FakeToolCall {
  name: string;
  /** JSON text, exactly as the fake sends it. */
  arguments: string;
}

/** What every answer of one request shares. */
export interface AnswerContext {
  readonly id: string;
  readonly created: number;
  readonly model: string;
  /** Number of choices (`n`, default 1). */
  readonly choices: number;
  readonly includeUsage: boolean;
  /** Usage to report instead of the counted one (the upstream's `usage` option). */
  readonly usage?: Record<string, unknown>;
  /** Words a text answer is cut to, finish_reason "length" (the upstream's `cutAtMaxTokens` option). */
  readonly maxWords?: number;
}

const fingerprint = "fp_fake";

/** The text of the last user message: its string content, or its text parts joined. */
export function lastUserText(body: FakeRequestBody): string {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  for (let position = messages.length - 1; position >= 0; position--) {
    const message: unknown = messages[position];
    if (!isRecord(message) || message.role !== "user") continue;
    return textOf(message.content);
  }
  return "";
}

/** The answer text for a request: `echo: <last user message>`. */
export function answerTextFor(body: FakeRequestBody): string {
  return `echo: ${lastUserText(body)}`;
}

/** How the fake splits an answer into stream deltas: one word with its leading space per delta. */
export function splitIntoDeltas(text: string): string[] {
  const pieces: string[] = text.match(/\s*\S+/g) ?? [];
  const covered = pieces.join("").length;
  if (covered < text.length) pieces.push(text.slice(covered));
  return pieces;
}

/** The call the fake makes when tools were offered: the forced function, else the first tool. */
export function toolCallsFor(body: FakeRequestBody, all: boolean): FakeToolCall[] {
  const tools = Array.isArray(body.tools) ? body.tools : [];
  const names = tools.map((tool: unknown) => (isRecord(tool) && isRecord(tool.function) ? String(tool.function.name) : "tool"));
  const choice = body.tool_choice;
  const forced = isRecord(choice) && isRecord(choice.function) ? String(choice.function.name) : undefined;
  const chosen = forced !== undefined ? [forced] : all ? names : names.slice(0, 1);
  const argumentsText = JSON.stringify({ echo: lastUserText(body) });
  return (chosen.length > 0 ? chosen : ["tool"]).map((name) => ({ name, arguments: argumentsText }));
}

/** Usage the fake reports: prompt = words in all messages, completion = number of deltas. */
export function usageFor(body: FakeRequestBody, completionTokens: number): Record<string, unknown> {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const promptTokens = messages.reduce((sum: number, message: unknown) => sum + (isRecord(message) ? splitIntoDeltas(textOf(message.content)).length : 0), 0);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/** OpenAI's error object for a status, as the fake sends it unless a scenario names one. */
export function errorFieldsForStatus(status: number, body: FakeRequestBody, bearer: string): FakeErrorFields {
  const model = typeof body.model === "string" ? body.model : "";
  switch (status) {
    case 400:
      return { message: "Invalid 'messages': the fake upstream was told to refuse this request.", type: "invalid_request_error", param: "messages", code: "invalid_value" };
    case 401:
      return {
        message: `Incorrect API key provided: ${bearer}. You can find your API key at https://platform.openai.com/account/api-keys.`,
        type: "invalid_request_error",
        param: null,
        code: "invalid_api_key",
      };
    case 403:
      return { message: "You are not allowed to sample from this model", type: "invalid_request_error", param: null, code: "unsupported_country_region_territory" };
    case 404:
      return { message: `The model \`${model}\` does not exist or you do not have access to it.`, type: "invalid_request_error", param: null, code: "model_not_found" };
    case 429:
      return {
        message: `Rate limit reached for ${model} in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 7s.`,
        type: "requests",
        param: null,
        code: "rate_limit_exceeded",
      };
    case 503:
      return { message: "The engine is currently overloaded, please try again later", type: "server_error", param: null, code: null };
    default:
      return { message: "The server had an error while processing your request. Sorry about that!", type: "server_error", param: null, code: null };
  }
}

/** A whole `chat.completion` body with a text answer in every choice. */
export function completionBody(context: AnswerContext, text: string, finishReason: string, usage: unknown): Record<string, unknown> {
  return completion(context, { role: "assistant", content: text, refusal: null, annotations: [] }, finishReason, usage);
}

/** A whole `chat.completion` body whose message holds only tool calls. */
export function toolCallCompletionBody(context: AnswerContext, calls: readonly FakeToolCall[], usage: unknown): Record<string, unknown> {
  const toolCalls = calls.map((call, position) => ({
    id: toolCallId(context, position),
    type: "function",
    function: { name: call.name, arguments: call.arguments },
  }));
  return completion(context, { role: "assistant", content: null, tool_calls: toolCalls, refusal: null, annotations: [] }, "tool_calls", usage);
}

/** The chunks of a streamed text answer, without usage and `[DONE]`: role, deltas, finish. */
export function textChunks(context: AnswerContext, deltas: readonly string[], finishReason: string): Record<string, unknown>[] {
  const chunks = [eachChoice(context, () => ({ delta: { role: "assistant", content: "", refusal: null } }))];
  for (const delta of deltas) chunks.push(eachChoice(context, () => ({ delta: { content: delta } })));
  chunks.push(eachChoice(context, () => ({ delta: {}, finish_reason: finishReason })));
  return chunks;
}

/** The chunks of streamed tool calls, as OpenAI sends them: id and name first, then argument pieces. */
export function toolCallChunks(context: AnswerContext, calls: readonly FakeToolCall[]): Record<string, unknown>[] {
  const chunks: Record<string, unknown>[] = [];
  calls.forEach((call, position) => {
    const opening = { index: position, id: toolCallId(context, position), type: "function", function: { name: call.name, arguments: "" } };
    const delta = position === 0 ? { role: "assistant", content: null, tool_calls: [opening] } : { tool_calls: [opening] };
    chunks.push(eachChoice(context, () => ({ delta })));
    for (const piece of argumentPieces(call.arguments)) {
      chunks.push(eachChoice(context, () => ({ delta: { tool_calls: [{ index: position, function: { arguments: piece } }] } })));
    }
  });
  chunks.push(eachChoice(context, () => ({ delta: {}, finish_reason: "tool_calls" })));
  return chunks;
}

/** The last chunk when `stream_options.include_usage` was asked: no choices, only usage. */
export function usageChunk(context: AnswerContext, usage: unknown): Record<string, unknown> {
  return { id: context.id, object: "chat.completion.chunk", created: context.created, model: context.model, system_fingerprint: fingerprint, choices: [], usage };
}

/** Tool-call arguments cut in pieces of 4 characters (never inside a UTF-16 surrogate pair). */
export function argumentPieces(text: string): string[] {
  const characters = Array.from(text);
  const pieces: string[] = [];
  for (let start = 0; start < characters.length; start += 4) pieces.push(characters.slice(start, start + 4).join(""));
  return pieces;
}

function completion(context: AnswerContext, message: Record<string, unknown>, finishReason: string, usage: unknown): Record<string, unknown> {
  const choices = Array.from({ length: context.choices }, (_, index) => ({ index, message, logprobs: null, finish_reason: finishReason }));
  const body: Record<string, unknown> = {
    id: context.id,
    object: "chat.completion",
    created: context.created,
    model: context.model,
    choices,
    service_tier: "default",
    system_fingerprint: fingerprint,
  };
  if (usage !== undefined) body.usage = usage;
  return body;
}

function eachChoice(context: AnswerContext, choice: () => { delta: unknown; finish_reason?: string }): Record<string, unknown> {
  const choices = Array.from({ length: context.choices }, (_, index) => {
    const { delta, finish_reason } = choice();
    return { index, delta, logprobs: null, finish_reason: finish_reason ?? null };
  });
  const chunk: Record<string, unknown> = {
    id: context.id,
    object: "chat.completion.chunk",
    created: context.created,
    model: context.model,
    system_fingerprint: fingerprint,
    choices,
  };
  // With include_usage OpenAI sends `"usage": null` in every chunk but the last.
  if (context.includeUsage) chunk.usage = null;
  return chunk;
}

function toolCallId(context: AnswerContext, position: number): string {
  return `call_${context.id.replace(/^chatcmpl-/, "")}_${position}`;
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((part: unknown) => (isRecord(part) && part.type === "text" && typeof part.text === "string" ? part.text : "")).join("");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
