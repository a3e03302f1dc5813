import { Code, ConnectError } from "@connectrpc/connect";
import type {
  ChatParams,
  ContentPart,
  Message,
  Tool,
  ToolChoice,
} from "../../../../gen/iir/inference/v1/inference_pb.js";
import type {
  OpenAIChatRequest,
  OpenAIContentPart,
  OpenAIMessage,
  OpenAIRole,
  OpenAITool,
  OpenAIToolCall,
  OpenAIToolChoice,
} from "../../../common/openai-types.js";
import type { ChatTarget } from "../adapter.js";
import { withoutControlledFields } from "./controlled-request-fields.js";

// Indexed by the Role enum's numbers; index 0 (UNSPECIFIED) has no OpenAI role.
const openAIRoles: readonly (OpenAIRole | undefined)[] = [undefined, "system", "developer", "user", "assistant", "tool"];

/** What the translation needs of the target: the model the upstream knows, and the request-field policy. */
export type RequestTarget = Pick<ChatTarget, "upstreamModel" | "provider" | "allowedRequestFields">;

/** A translated request, and the controlled fields left out of it (for the log). */
export interface TranslatedRequest {
  readonly request: OpenAIChatRequest;
  /** Controlled fields (controlled-request-fields.ts) the client sent but the registry entry does not allow. */
  readonly droppedFields: readonly string[];
}

/**
 * The OpenAI chat completions body for a request. Typed fields are mapped one by one; fields without
 * a typed home (`params.extra`, `message.extra`) are merged in untouched, except the provider's
 * controlled fields the model's registry entry does not allow, and a typed field always wins over an
 * extra of the same name. Unset optional fields are left out entirely, so the upstream applies its
 * own defaults. When streaming, usage is always requested: the router needs it even when the client
 * did not ask (the facade decides what the client sees).
 */
export function chatParamsToOpenAIRequest(params: ChatParams, target: RequestTarget, stream: boolean): TranslatedRequest {
  const filtered = params.extra === undefined ? undefined : withoutControlledFields(params.extra, target.provider, target.allowedRequestFields);
  const extra = filtered?.extra;
  const upstreamModel = target.upstreamModel;
  const keepCacheControl = providersTakingCacheControl.has(target.provider);
  const toOpenAI = (message: Message, index: number) => messageToOpenAI(message, index, keepCacheControl);
  const request: OpenAIChatRequest =
    extra === undefined
      ? { model: upstreamModel, messages: params.messages.map(toOpenAI) }
      : { ...extra, model: upstreamModel, messages: params.messages.map(toOpenAI) };
  if (stream) {
    request.stream = true;
    request.stream_options = { include_usage: true };
  } else if (extra !== undefined) {
    // An extra must never turn a unary call into a stream the caller cannot parse.
    delete request.stream;
    delete request.stream_options;
  }
  const tools = withoutServerTools(params.tools, target.allowedRequestFields);
  if (tools.kept.length > 0) request.tools = tools.kept.map(toolToOpenAI);
  const toolChoice = toolChoiceToOpenAI(params.toolChoice);
  if (toolChoice !== undefined) request.tool_choice = toolChoice;
  if (params.temperature !== undefined) request.temperature = params.temperature;
  if (params.topP !== undefined) request.top_p = params.topP;
  if (params.maxTokens !== undefined) request.max_tokens = params.maxTokens;
  if (params.maxCompletionTokens !== undefined) request.max_completion_tokens = params.maxCompletionTokens;
  if (params.stop.length > 0) request.stop = params.stop;
  if (params.seed !== undefined) request.seed = Number(params.seed);
  if (params.n !== undefined) request.n = params.n;
  if (params.presencePenalty !== undefined) request.presence_penalty = params.presencePenalty;
  if (params.frequencyPenalty !== undefined) request.frequency_penalty = params.frequencyPenalty;
  const responseFormat = params.responseFormat;
  if (responseFormat !== undefined && responseFormat.type !== "") {
    request.response_format =
      responseFormat.jsonSchema === undefined
        ? { type: responseFormat.type }
        : { type: responseFormat.type, json_schema: responseFormat.jsonSchema };
  }
  if (params.user !== "") request.user = params.user;
  const droppedFields = [...(filtered?.dropped ?? []), ...tools.dropped];
  return { request, droppedFields };
}

// Tools the client runs itself. Any other type is a tool the provider runs and bills on its own
// (OpenRouter's "openrouter:web_search", a hosted search or code tool): a controlled field like the
// others, let through only when the registry entry allows "tools:<type>".
const clientToolTypes: ReadonlySet<string> = new Set(["", "function", "custom"]);

function withoutServerTools(tools: readonly Tool[], allowed: readonly string[] = []): { kept: readonly Tool[]; dropped: string[] } {
  if (tools.every((tool) => clientToolTypes.has(tool.type))) return { kept: tools, dropped: [] };
  const dropped: string[] = [];
  const kept = tools.filter((tool) => {
    if (clientToolTypes.has(tool.type) || allowed.includes(`tools:${tool.type}`)) return true;
    dropped.push(`tools:${tool.type}`);
    return false;
  });
  return { kept, dropped };
}

// Anthropic's prompt-caching marks (`cache_control` on messages and content parts, as Claude Code sends
// them through /v1/messages) reach only the OpenAI-compatible providers that document them:
// OpenRouter passes them on to Anthropic and Gemini models. OpenAI and Azure refuse them ("Unrecognized
// request argument supplied: cache_control") and cache prompts by themselves; the others ignore or refuse them.
const providersTakingCacheControl: ReadonlySet<string> = new Set(["openrouter"]);

/** One message; `message.extra` (refusal, audio…) is merged first so typed fields win. */
function messageToOpenAI(message: Message, index: number, keepCacheControl: boolean): OpenAIMessage {
  const role = openAIRoles[message.role];
  if (role === undefined) {
    throw new ConnectError(`messages[${index}] has no role an OpenAI-compatible upstream accepts`, Code.InvalidArgument);
  }
  const result: OpenAIMessage = message.extra === undefined ? { role } : { ...message.extra, role };
  if (!keepCacheControl) delete (result as Record<string, unknown>).cache_control;
  const content = message.content;
  if (content.case === "text") result.content = content.value;
  else if (content.case === "parts") result.content = content.value.parts.map((part) => contentPartToOpenAI(part, keepCacheControl));
  if (message.name !== "") result.name = message.name;
  if (message.toolCalls.length > 0) {
    result.tool_calls = message.toolCalls.map(
      (call): OpenAIToolCall => ({
        id: call.id,
        type: "function",
        function: { name: call.function?.name ?? "", arguments: call.function?.arguments ?? "" },
      }),
    );
  }
  if (message.toolCallId !== "") result.tool_call_id = message.toolCallId;
  return result;
}

/** A content part; parts the contract does not model travel exactly as the client sent them. */
function contentPartToOpenAI(part: ContentPart, keepCacheControl: boolean): OpenAIContentPart {
  const value = part.part;
  switch (value.case) {
    case "text":
      return { type: "text", text: value.value };
    case "imageUrl":
      return {
        type: "image_url",
        image_url: value.value.detail === "" ? { url: value.value.url } : { url: value.value.url, detail: value.value.detail },
      };
    case "other": {
      if (keepCacheControl || !("cache_control" in value.value)) return value.value as OpenAIContentPart;
      const { cache_control: _mark, ...rest } = value.value;
      return rest as OpenAIContentPart;
    }
    default:
      return { type: "text", text: "" };
  }
}

function toolToOpenAI(tool: Tool): OpenAITool {
  const definition = tool.function;
  const openAIFunction: OpenAITool["function"] = { name: definition?.name ?? "" };
  if (definition !== undefined) {
    if (definition.description !== "") openAIFunction.description = definition.description;
    if (definition.parameters !== undefined) openAIFunction.parameters = definition.parameters;
    if (definition.strict !== undefined) openAIFunction.strict = definition.strict;
  }
  // Only function tools are modelled; another type (e.g. "custom") is passed on as the client named it.
  return { type: (tool.type === "" ? "function" : tool.type) as OpenAITool["type"], function: openAIFunction };
}

function toolChoiceToOpenAI(choice: ToolChoice | undefined): OpenAIToolChoice | undefined {
  const value = choice?.choice;
  if (value === undefined) return undefined;
  if (value.case === "mode") return value.value as OpenAIToolChoice;
  if (value.case === "functionName") return { type: "function", function: { name: value.value } };
  return undefined;
}
