import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { Role, type ChatParams, type ContentPart, type Message, type Tool, type ToolChoice } from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatTarget } from "../adapter.js";
import type {
  AnthropicCacheControl,
  AnthropicContentBlock,
  AnthropicCountTokensRequest,
  AnthropicImageBlock,
  AnthropicMessage,
  AnthropicMessagesRequest,
  AnthropicTextBlock,
  AnthropicTool,
  AnthropicToolChoice,
  AnthropicToolResultBlock,
} from "./anthropic-wire-types.js";

/**
 * Anthropic requires `max_tokens`; OpenAI clients usually leave it out. Without `max_completion_tokens`
 * or `max_tokens` a request asks for this many, and with a thinking budget, this many beyond the budget
 * (Anthropic wants max_tokens above budget_tokens).
 */
export const defaultMaxTokens = 4096;

/**
 * API versions from this date on refuse `temperature`, `top_p` and `top_k` (the official SDK 1.16 sends
 * `2026-10-21`): with such a version configured they are left out rather than failing every request.
 */
const samplingRemovedFromVersion = "2026-10-21";

// Request fields that change what a request costs at Anthropic beyond the tokens of the chosen model: a
// priority tier, remote MCP servers and code-execution containers billed to IIR's account. Let through
// only where the model's registry entry allows them, as for the OpenAI-compatible providers; Anthropic's
// own tools (web search, code execution…) likewise as `tools:<type>`.
const controlledFields: readonly string[] = ["service_tier", "mcp_servers", "container"];

// OpenAI request fields the facade may pass as extras that mean nothing (or something else) to Anthropic.
const openAIOnlyExtras: readonly string[] = ["stream", "stream_options", "parallel_tool_calls", "n", "logprobs", "top_logprobs", "logit_bias", "store", "modalities", "prediction", "audio", "reasoning_effort", "verbosity", "web_search_options", "function_call", "functions", "max_completion_tokens"];

/** What the translation needs of the target. */
export type RequestTarget = Pick<ChatTarget, "upstreamModel" | "allowedRequestFields">;

/** A translated request, and the controlled fields left out of it (for the log). */
export interface TranslatedAnthropicRequest {
  readonly request: AnthropicMessagesRequest;
  readonly droppedFields: readonly string[];
}

/**
 * The Messages API body for a request. System and developer turns become the top-level `system`;
 * consecutive turns of one role are merged (tool results join the user turn, before its other blocks,
 * as Anthropic wants them); assistant reasoning goes back as signed thinking blocks, so extended
 * thinking survives a multi-turn conversation. Extras without a typed home are merged in untouched,
 * except OpenAI-only fields and the controlled fields the registry does not allow.
 */
export function chatParamsToAnthropicRequest(params: ChatParams, target: RequestTarget, stream: boolean, version = "2023-06-01"): TranslatedAnthropicRequest {
  if (params.n !== undefined && params.n > 1) throw new ConnectError("anthropic answers one choice per request: n must be 1", Code.InvalidArgument);
  const allowed = target.allowedRequestFields ?? [];
  const droppedFields: string[] = [];
  const extra = extrasFor(params.extra, allowed, droppedFields);
  const { system, messages } = promptToAnthropic(params);
  const request: AnthropicMessagesRequest = { ...extra, model: target.upstreamModel, messages, max_tokens: maxTokensOf(params) };
  if (system.length > 0) request.system = system;
  if (stream) request.stream = true;
  if (params.stop.length > 0) request.stop_sequences = [...params.stop];
  if (version < samplingRemovedFromVersion) {
    if (params.temperature !== undefined) request.temperature = params.temperature;
    if (params.topP !== undefined) request.top_p = params.topP;
    if (params.topK !== undefined) request.top_k = params.topK;
  }
  const tools = toolsToAnthropic(params.tools, allowed, droppedFields);
  if (tools.length > 0) request.tools = tools;
  const toolChoice = toolChoiceToAnthropic(params.toolChoice, params.extra?.parallel_tool_calls);
  // Anthropic refuses tool_choice without tools; OpenAI clients send "none" or "auto" with none.
  if (toolChoice !== undefined && tools.length > 0) request.tool_choice = toolChoice;
  const budget = params.reasoningBudgetTokens;
  if (budget !== undefined && budget > 0) request.thinking = { type: "enabled", budget_tokens: budget };
  if (params.user !== "") {
    const metadata = extra.metadata;
    request.metadata = typeof metadata === "object" && metadata !== null && !Array.isArray(metadata) ? { ...metadata, user_id: params.user } : { user_id: params.user };
  }
  return { request, droppedFields };
}

/** The `count_tokens` body for a request: the prompt, tools and thinking, nothing the endpoint refuses. */
export function chatParamsToAnthropicCountTokensRequest(params: ChatParams, target: RequestTarget): AnthropicCountTokensRequest {
  const { request } = chatParamsToAnthropicRequest(params, target, false);
  const counted: AnthropicCountTokensRequest = { model: request.model, messages: request.messages };
  if (request.system !== undefined) counted.system = request.system;
  if (request.tools !== undefined) counted.tools = request.tools;
  if (request.tool_choice !== undefined) counted.tool_choice = request.tool_choice;
  if (request.thinking !== undefined) counted.thinking = request.thinking;
  return counted;
}

function maxTokensOf(params: ChatParams): number {
  const asked = params.maxCompletionTokens ?? params.maxTokens;
  if (asked !== undefined) return asked;
  const budget = params.reasoningBudgetTokens ?? 0;
  return budget > 0 ? budget + defaultMaxTokens : defaultMaxTokens;
}

function extrasFor(extra: JsonObject | undefined, allowed: readonly string[], dropped: string[]): JsonObject {
  if (extra === undefined) return {};
  // Spread defines own properties, so even a field named `__proto__` is copied as data.
  const kept: JsonObject = { ...extra };
  for (const field of openAIOnlyExtras) delete kept[field];
  for (const field of controlledFields) {
    if (Object.hasOwn(kept, field) && !allowed.includes(field)) {
      delete kept[field];
      dropped.push(field);
    }
  }
  return kept;
}

/** The top-level system blocks and the alternating turns of a request. */
function promptToAnthropic(params: ChatParams): { system: AnthropicTextBlock[]; messages: AnthropicMessage[] } {
  const system: AnthropicTextBlock[] = [];
  const messages: AnthropicMessage[] = [];
  // The legacy completions API: chat-only providers get the raw prompt as one user turn.
  if (params.prompt !== undefined && params.messages.length === 0) {
    return { system, messages: [{ role: "user", content: [{ type: "text", text: params.prompt }] }] };
  }
  params.messages.forEach((message, index) => {
    if (message.role === Role.SYSTEM || message.role === Role.DEVELOPER) {
      system.push(...withCacheControl(systemBlocks(message), message));
      return;
    }
    const role = message.role === Role.ASSISTANT ? "assistant" : message.role === Role.USER || message.role === Role.TOOL ? "user" : undefined;
    if (role === undefined) throw new ConnectError(`messages[${index}] has no role Anthropic accepts`, Code.InvalidArgument);
    const blocks = withCacheControl(role === "assistant" ? assistantBlocks(message, index) : message.role === Role.TOOL ? [toolResultBlock(message)] : contentBlocks(message), message);
    const last = messages.at(-1);
    if (last !== undefined && last.role === role) last.content = role === "user" ? toolResultsFirst([...last.content, ...blocks]) : [...last.content, ...blocks];
    else messages.push({ role, content: blocks });
  });
  return { system, messages };
}

function systemBlocks(message: Message): AnthropicTextBlock[] {
  return contentBlocks(message).flatMap((block) => (block.type === "text" ? [block as AnthropicTextBlock] : []));
}

/** A message's `extra.cache_control` marks the end of the prefix to cache: its last block. */
function withCacheControl<Block extends AnthropicContentBlock>(blocks: Block[], message: Message): Block[] {
  const cacheControl = message.extra?.cache_control;
  const last = blocks.at(-1);
  if (cacheControl === undefined || cacheControl === null || last === undefined) return blocks;
  return [...blocks.slice(0, -1), { ...last, cache_control: cacheControl as AnthropicCacheControl }];
}

/** After a tool call Anthropic wants the tool results first in the user turn, then any text. */
function toolResultsFirst(blocks: AnthropicContentBlock[]): AnthropicContentBlock[] {
  return [...blocks.filter((block) => block.type === "tool_result"), ...blocks.filter((block) => block.type !== "tool_result")];
}

/** Text and image blocks of a message's content; empty text is left out (Anthropic refuses it). */
function contentBlocks(message: Message): AnthropicContentBlock[] {
  const content = message.content;
  if (content.case === "text") return content.value === "" ? [] : [{ type: "text", text: content.value }];
  if (content.case === "parts") return content.value.parts.flatMap(partToAnthropic);
  return [];
}

function partToAnthropic(part: ContentPart): AnthropicContentBlock[] {
  const value = part.part;
  switch (value.case) {
    case "text":
      return value.value === "" ? [] : [{ type: "text", text: value.value }];
    case "imageUrl":
      return [imageBlock(value.value.url)];
    case "other":
      return [otherPartToAnthropic(value.value)];
    default:
      return [];
  }
}

/**
 * A part the contract does not model, with its extra fields (`cache_control`…): an OpenAI image part
 * becomes an image block keeping them; anything else is already an Anthropic block and goes as it is.
 */
function otherPartToAnthropic(part: JsonObject): AnthropicContentBlock {
  const imageUrl = part.image_url;
  if (part.type === "image_url" && typeof imageUrl === "object" && imageUrl !== null && !Array.isArray(imageUrl) && typeof imageUrl.url === "string") {
    const { type: _type, image_url: _imageUrl, ...rest } = part;
    return { ...rest, ...imageBlock(imageUrl.url) } as AnthropicImageBlock;
  }
  return part as AnthropicContentBlock;
}

const dataUrl = /^data:([^;,]+);base64,(.*)$/s;

/** `data:` URLs become base64 sources with their media type; http(s) URLs, url sources. */
function imageBlock(url: string): AnthropicImageBlock {
  const inline = dataUrl.exec(url);
  if (inline !== null) return { type: "image", source: { type: "base64", media_type: inline[1]!, data: inline[2]! } };
  if (url.startsWith("data:")) throw new ConnectError("an image data: URL must be base64 with a media type (data:image/png;base64,…)", Code.InvalidArgument);
  return { type: "image", source: { type: "url", url } };
}

function toolResultBlock(message: Message): AnthropicToolResultBlock {
  const content = message.content;
  const block: AnthropicToolResultBlock = {
    type: "tool_result",
    tool_use_id: message.toolCallId,
    content: content.case === "parts" ? contentBlocks(message) : content.case === "text" ? content.value : "",
  };
  if (message.isError) block.is_error = true;
  return block;
}

/** Reasoning (signed thinking blocks first, as the model wrote them), then text, then tool calls. */
function assistantBlocks(message: Message, index: number): AnthropicContentBlock[] {
  const blocks: AnthropicContentBlock[] = message.reasoning.map((reasoning) =>
    reasoning.redactedData !== "" ? { type: "redacted_thinking", data: reasoning.redactedData } : { type: "thinking", thinking: reasoning.text, signature: reasoning.signature },
  );
  blocks.push(...contentBlocks(message));
  message.toolCalls.forEach((call, position) => {
    const text = call.function?.arguments ?? "";
    let input: unknown = {};
    if (text.trim() !== "") {
      try {
        input = JSON.parse(text);
      } catch {
        throw new ConnectError(`messages[${index}].tool_calls[${position}].function.arguments is not JSON`, Code.InvalidArgument);
      }
    }
    blocks.push({ type: "tool_use", id: call.id, name: call.function?.name ?? "", input });
  });
  return blocks;
}

// Tools the client runs itself; any other type is one of Anthropic's own, billed per use.
const clientToolTypes: ReadonlySet<string> = new Set(["", "function", "custom"]);

function toolsToAnthropic(tools: readonly Tool[], allowed: readonly string[], dropped: string[]): AnthropicTool[] {
  const result: AnthropicTool[] = [];
  for (const tool of tools) {
    const definition = tool.function;
    if (clientToolTypes.has(tool.type)) {
      // `strict` is left out: API versions before structured outputs refuse the field.
      const translated: AnthropicTool = { name: definition?.name ?? "", input_schema: definition?.parameters ?? { type: "object" } };
      if (definition !== undefined && definition.description !== "") translated.description = definition.description;
      result.push(translated);
    } else if (allowed.includes(`tools:${tool.type}`)) {
      // Anthropic's own tools: their settings (max_uses, allowed_domains…) travel as the parameters.
      result.push({ ...(definition?.parameters ?? {}), type: tool.type, name: definition?.name ?? "" });
    } else {
      dropped.push(`tools:${tool.type}`);
    }
  }
  return result;
}

function toolChoiceToAnthropic(choice: ToolChoice | undefined, parallelToolCalls: JsonValue | undefined): AnthropicToolChoice | undefined {
  const value = choice?.choice;
  if (value?.case === "mode" && value.value === "none") return { type: "none" };
  let result: Exclude<AnthropicToolChoice, { type: "none" }> | undefined;
  if (value?.case === "functionName") result = { type: "tool", name: value.value };
  else if (value?.case === "mode") result = { type: value.value === "required" || value.value === "any" ? "any" : "auto" };
  // OpenAI's parallel_tool_calls: false is Anthropic's disable_parallel_tool_use.
  if (parallelToolCalls === false) {
    result ??= { type: "auto" };
    result.disable_parallel_tool_use = true;
  }
  return result;
}
