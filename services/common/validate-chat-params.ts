import { Code, ConnectError } from "@connectrpc/connect";
import type { JsonObject } from "@bufbuild/protobuf";
import { Role, type ChatParams } from "../../gen/iir/inference/v1/inference_pb.js";
import { findTooDeep, formatJsonPath, maximumRequestDepth } from "./json-depth.js";

/**
 * Checks what every backend needs of a request, for RPC clients that bypass the facade's OpenAI
 * validation. Throws InvalidArgument naming the field.
 */
export function validateChatParams(params: ChatParams | undefined): asserts params is ChatParams {
  if (!params) throw invalid("params is required");
  if (!params.model) throw invalid("params.model is required");
  // A raw prompt (legacy completions) stands instead of messages: exactly one of the two.
  if (params.prompt !== undefined && params.messages.length > 0) throw invalid("params.prompt and params.messages exclude each other: send one");
  if (params.prompt === undefined && params.messages.length === 0) {
    throw invalid("params.messages must contain at least one message");
  }
  params.messages.forEach((message, index) => {
    if (message.role === Role.UNSPECIFIED || Role[message.role] === undefined) {
      throw invalid(`params.messages[${index}].role must be set`);
    }
    if (message.role === Role.TOOL && !message.toolCallId) {
      throw invalid(`params.messages[${index}].tool_call_id is required for tool messages`);
    }
  });
  if (params.temperature !== undefined && !(params.temperature >= 0 && params.temperature <= 2)) {
    throw invalid("params.temperature must be between 0 and 2");
  }
  if (params.topP !== undefined && !(params.topP >= 0 && params.topP <= 1)) throw invalid("params.top_p must be between 0 and 1");
  if (params.n !== undefined && params.n < 1) throw invalid("params.n must be at least 1");
  if (params.maxTokens !== undefined && params.maxTokens < 1) throw invalid("params.max_tokens must be at least 1");
  if (params.maxCompletionTokens !== undefined && params.maxCompletionTokens < 1) {
    throw invalid("params.max_completion_tokens must be at least 1");
  }
  checkNesting(params);
}

/**
 * The google.protobuf.Struct fields of a request, each with the JSON level it holds in the OpenAI
 * request it stands for (body = 1, so `messages[0]` is 3 and `tools[0].function.parameters` 5): the
 * same request nests as deep whether it came as OpenAI JSON to the facade or as protobuf, and one
 * limit covers both. An extra holds the fields of the object it belongs to, so it sits at that
 * object's level.
 */
function* structFields(params: ChatParams): Generator<{ readonly value: JsonObject | undefined; readonly level: number; readonly name: string }> {
  yield { value: params.extra, level: 1, name: "params.extra" };
  yield { value: params.responseFormat?.jsonSchema, level: 3, name: "params.response_format.json_schema" };
  for (let index = 0; index < params.messages.length; index++) {
    const message = params.messages[index]!;
    yield { value: message.extra, level: 3, name: `params.messages[${index}].extra` };
    if (message.content.case !== "parts") continue;
    const parts = message.content.value.parts;
    for (let partIndex = 0; partIndex < parts.length; partIndex++) {
      const part = parts[partIndex]!.part;
      if (part.case === "other") yield { value: part.value, level: 5, name: `params.messages[${index}].parts.parts[${partIndex}].other` };
    }
  }
  for (let index = 0; index < params.tools.length; index++) {
    yield { value: params.tools[index]!.function?.parameters, level: 5, name: `params.tools[${index}].function.parameters` };
  }
}

/**
 * Refuses Struct values nested deeper than `maximumRequestDepth` JSON levels: past it the router's
 * cache key, JSON.stringify towards an upstream and protobuf-es encoding towards an agent would
 * recurse until the call stack overflows. The check itself never recurses.
 */
function checkNesting(params: ChatParams): void {
  for (const field of structFields(params)) {
    const tooDeep = findTooDeep(field.value, maximumRequestDepth, field.level);
    if (tooDeep === undefined) continue;
    const where = formatJsonPath(field.name, tooDeep.path);
    throw invalid(`${where} nests objects and arrays deeper than ${maximumRequestDepth} levels (counted as in the OpenAI request); flatten it`);
  }
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}
