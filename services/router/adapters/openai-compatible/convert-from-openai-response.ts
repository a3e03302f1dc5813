import { create, type JsonObject, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  ContentPartSchema,
  Role,
  ToolCallSchema,
  type ChatResponse,
  type Choice,
  type Message,
} from "../../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatTarget } from "../adapter.js";
import { usageFromOpenAI } from "./convert-openai-usage.js";
import { isRecord, stringOr, type JsonRecord } from "./json-guards.js";
import { finishReasonFromOpenAI } from "./map-openai-finish-reason.js";
import { connectErrorFromUpstreamEvent, isUpstreamErrorEvent } from "./openai-error.js";
import { upstreamErrorContext } from "../upstream/upstream-secrets.js";

export { createOpenAIStreamState, type OpenAIStreamState } from "./openai-stream-state.js";


// A Map: an upstream's role string ("constructor"…) must never find a property of Object.prototype.
const rolesByName: ReadonlyMap<string, Role> = new Map([
  ["system", Role.SYSTEM],
  ["developer", Role.DEVELOPER],
  ["user", Role.USER],
  ["assistant", Role.ASSISTANT],
  ["tool", Role.TOOL],
]);

// Fields of an answer message that have a typed home; every other field travels in `extra`.
const typedMessageFields = new Set(["role", "content", "tool_calls"]);

/**
 * The contract's response for an OpenAI `chat.completion` body. The shape is checked, not trusted:
 * anything that is not a completion (or an error sent with a 200) becomes Unavailable, so the router
 * may try another backend. Message fields without a typed home (refusal, annotations,
 * reasoning_content…) are kept in `message.extra`. IIR's credentials for the target are blanked out
 * of an error's message should the upstream echo them.
 */
export function chatResponseFromOpenAI(json: unknown, target: ChatTarget): ChatResponse {
  if (!isRecord(json)) throw malformed("the body is not a JSON object");
  if (isUpstreamErrorEvent(json)) throw connectErrorFromUpstreamEvent(json, upstreamErrorContext(target));
  if (!Array.isArray(json.choices)) throw malformed("choices is not a list");
  const choices = json.choices.map((choice: unknown, position: number): Choice => {
    if (!isRecord(choice) || !isRecord(choice.message)) throw malformed(`choices[${position}] has no message`);
    return {
      $typeName: "iir.inference.v1.Choice",
      index: typeof choice.index === "number" ? choice.index : position,
      message: messageFromOpenAI(choice.message),
      finishReason: finishReasonFromOpenAI(choice.finish_reason),
      rawFinishReason: typeof choice.finish_reason === "string" ? choice.finish_reason : "",
      stopSequence: "",
    };
  });
  // Literals rather than create(): protobuf-es messages are plain objects, the type checker holds
  // each literal to every field, and create() walks the schema of every nested message per answer.
  return {
    $typeName: "iir.inference.v1.ChatResponse",
    id: stringOr(json.id, ""),
    created: typeof json.created === "number" && Number.isFinite(json.created) ? BigInt(Math.trunc(json.created)) : 0n,
    model: stringOr(json.model, ""),
    choices,
    usage: usageFromOpenAI(json.usage),
    backend: target.backend,
    cached: false,
  };
}

function messageFromOpenAI(message: JsonRecord): Message {
  const content = message.content;
  let extra: JsonObject | undefined;
  for (const field in message) {
    if (typedMessageFields.has(field)) continue;
    extra ??= {};
    extra[field] = message[field] as JsonObject[string];
  }
  return {
    $typeName: "iir.inference.v1.Message",
    role: rolesByName.get(stringOr(message.role, "assistant")) ?? Role.ASSISTANT,
    content:
      typeof content === "string"
        ? { case: "text", value: content }
        : // Some servers (Mistral's thinking models) answer with a list of parts instead of a string.
          Array.isArray(content)
          ? { case: "parts", value: { $typeName: "iir.inference.v1.ContentParts", parts: content.map((part) => create(ContentPartSchema, contentPartFromOpenAI(part))) } }
          : { case: undefined },
    name: "",
    toolCalls: Array.isArray(message.tool_calls) ? message.tool_calls.map((call) => create(ToolCallSchema, toolCallFromOpenAI(call))) : [],
    toolCallId: "",
    extra,
    reasoning: [],
    isError: false,
  };
}

function contentPartFromOpenAI(part: unknown): MessageInitShape<typeof ContentPartSchema> {
  if (!isRecord(part)) throw malformed("a content part is not a JSON object");
  if (part.type === "text" && typeof part.text === "string") return { part: { case: "text", value: part.text } };
  if (part.type === "image_url" && isRecord(part.image_url) && typeof part.image_url.url === "string") {
    return { part: { case: "imageUrl", value: { url: part.image_url.url, detail: stringOr(part.image_url.detail, "") } } };
  }
  return { part: { case: "other", value: part as JsonObject } };
}

function toolCallFromOpenAI(call: unknown): MessageInitShape<typeof ToolCallSchema> {
  if (!isRecord(call)) throw malformed("a tool call is not a JSON object");
  const fn = isRecord(call.function) ? call.function : {};
  // Arguments are JSON text by contract; a server that sends an object gets it serialized once here.
  const argumentsText = typeof fn.arguments === "string" ? fn.arguments : fn.arguments === undefined ? "" : JSON.stringify(fn.arguments);
  return {
    id: stringOr(call.id, ""),
    type: stringOr(call.type, "function"),
    function: { name: stringOr(fn.name, ""), arguments: argumentsText },
  };
}

function malformed(what: string): ConnectError {
  return new ConnectError(`upstream returned malformed response: ${what}`, Code.Unavailable);
}
