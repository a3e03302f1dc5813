import type { JsonObject } from "@bufbuild/protobuf";
import {
  Role,
  type ContentPart,
  type Message,
  type ToolCall,
} from "../../gen/iir/inference/v1/inference_pb.js";
import {
  collectExtraFields,
  isJsonObject,
  readOptionalString,
  readRequiredArray,
  readRequiredString,
} from "./openai-field-readers.js";
import { invalidType, invalidValue, missingParameter } from "./request-validation-error.js";

// A Map, not an object literal: a role of "constructor" must not find Object.prototype's member.
const roles = new Map<string, Role>([
  ["system", Role.SYSTEM],
  ["developer", Role.DEVELOPER],
  ["user", Role.USER],
  ["assistant", Role.ASSISTANT],
  ["tool", Role.TOOL],
]);
const supportedRoles = ["system", "assistant", "user", "tool", "developer"] as const;
const knownMessageFields: ReadonlySet<string> = new Set(["role", "content", "name", "tool_calls", "tool_call_id"]);
const textPartFields: ReadonlySet<string> = new Set(["type", "text"]);
const imagePartFields: ReadonlySet<string> = new Set(["type", "image_url"]);

/** OpenAI `messages` → proto messages, validated as OpenAI validates them. */
export function messagesFromOpenAI(value: unknown): Message[] {
  const list = readRequiredArray(value, "messages", 1);
  const messages: Message[] = new Array(list.length);
  for (let index = 0; index < list.length; index++) {
    messages[index] = messageFromOpenAI(list[index], `messages[${index}]`);
  }
  return messages;
}

function messageFromOpenAI(value: unknown, param: string): Message {
  if (!isJsonObject(value)) throw invalidType(param, "an object", value);
  const roleValue = value.role;
  if (roleValue === undefined || roleValue === null) throw missingParameter(`${param}.role`);
  if (typeof roleValue !== "string") throw invalidType(`${param}.role`, "a string", roleValue);
  const role = roles.get(roleValue);
  if (role === undefined) throw invalidValue(`${param}.role`, roleValue, supportedRoles);
  const toolCalls = toolCallsFromOpenAI(value.tool_calls, `${param}.tool_calls`);
  // An assistant turn that only calls tools has no content; the deprecated function_call counts too.
  const contentMayBeAbsent = role === Role.ASSISTANT && (toolCalls.length > 0 || isJsonObject(value.function_call));
  const toolCallId =
    role === Role.TOOL
      ? readRequiredString(value.tool_call_id, `${param}.tool_call_id`)
      : (readOptionalString(value.tool_call_id, `${param}.tool_call_id`) ?? "");
  // A literal rather than create(), as for ChatParams: this runs for every message of every request.
  return {
    $typeName: "iir.inference.v1.Message",
    role,
    content: contentFromOpenAI(value.content, `${param}.content`, contentMayBeAbsent),
    name: readOptionalString(value.name, `${param}.name`) ?? "",
    toolCalls,
    toolCallId,
    extra: collectExtraFields(value, knownMessageFields),
    reasoning: [],
    isError: false,
  };
}

function contentFromOpenAI(value: unknown, param: string, mayBeAbsent: boolean): Message["content"] {
  if (value === undefined || value === null) {
    if (mayBeAbsent) return { case: undefined };
    if (value === undefined) throw missingParameter(param);
    throw invalidType(param, "one of a string or array of objects", value);
  }
  if (typeof value === "string") return { case: "text", value };
  if (!Array.isArray(value)) throw invalidType(param, "one of a string or array of objects", value);
  const list = readRequiredArray(value, param, 1);
  const parts: ContentPart[] = new Array(list.length);
  for (let index = 0; index < list.length; index++) {
    parts[index] = contentPartFromOpenAI(list[index], `${param}[${index}]`);
  }
  return { case: "parts", value: { $typeName: "iir.inference.v1.ContentParts", parts } };
}

/**
 * A text or image part becomes typed; a part with fields the contract does not model (a provider's
 * `cache_control`, say) or of an unknown type travels whole in `other`, so nothing is dropped.
 */
function contentPartFromOpenAI(value: unknown, param: string): ContentPart {
  if (!isJsonObject(value)) throw invalidType(param, "an object", value);
  const type = readRequiredString(value.type, `${param}.type`);
  if (type === "text") {
    const text = readRequiredString(value.text, `${param}.text`);
    if (collectExtraFields(value, textPartFields) === undefined) return contentPart({ case: "text", value: text });
  } else if (type === "image_url") {
    const image = value.image_url;
    if (!isJsonObject(image)) {
      throw image === undefined ? missingParameter(`${param}.image_url`) : invalidType(`${param}.image_url`, "an object", image);
    }
    const url = readRequiredString(image.url, `${param}.image_url.url`);
    const detail = readOptionalString(image.detail, `${param}.image_url.detail`) ?? "";
    const plain = collectExtraFields(value, imagePartFields) === undefined && collectExtraFields(image, imageUrlFields) === undefined;
    if (plain) return contentPart({ case: "imageUrl", value: { $typeName: "iir.inference.v1.ImageUrl", url, detail } });
  }
  return contentPart({ case: "other", value: value as JsonObject });
}

const imageUrlFields: ReadonlySet<string> = new Set(["url", "detail"]);

function contentPart(part: ContentPart["part"]): ContentPart {
  return { $typeName: "iir.inference.v1.ContentPart", part };
}

function toolCallsFromOpenAI(value: unknown, param: string): ToolCall[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidType(param, "an array", value);
  return value.map((entry: unknown, index) => {
    const entryParam = `${param}[${index}]`;
    if (!isJsonObject(entry)) throw invalidType(entryParam, "an object", entry);
    const type = readRequiredString(entry.type, `${entryParam}.type`);
    if (type !== "function") throw invalidValue(`${entryParam}.type`, type, ["function"]);
    const call = entry.function;
    if (!isJsonObject(call)) {
      throw call === undefined ? missingParameter(`${entryParam}.function`) : invalidType(`${entryParam}.function`, "an object", call);
    }
    return {
      $typeName: "iir.inference.v1.ToolCall",
      id: readRequiredString(entry.id, `${entryParam}.id`),
      type,
      function: {
        $typeName: "iir.inference.v1.FunctionCall",
        name: readRequiredString(call.name, `${entryParam}.function.name`),
        arguments: readRequiredString(call.arguments, `${entryParam}.function.arguments`),
      },
    };
  });
}
