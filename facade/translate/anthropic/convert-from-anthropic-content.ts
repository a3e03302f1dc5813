import type { JsonObject } from "@bufbuild/protobuf";
import type { ContentPart, ReasoningBlock, ToolCall } from "../../../gen/iir/inference/v1/inference_pb.js";
import { collectExtraFields, isJsonObject, readOptionalString, readRequiredString } from "../openai-field-readers.js";
import { invalidType, invalidValue, missingParameter } from "../request-validation-error.js";

/**
 * Anthropic content blocks → proto parts, one block at a time. A block becomes typed (text, image)
 * when the contract models all of it; a block with more (`cache_control`, `citations`) travels in
 * `ContentPart.other` in OpenAI's part shape plus those fields (`{type:"text", text, cache_control}`,
 * the shape the OpenAI facade also produces), so an Anthropic upstream can give them back; a block of
 * a type the contract does not model (document, search_result…) travels whole, as the client sent it.
 */

const textBlockFields: ReadonlySet<string> = new Set(["type", "text"]);
const imageBlockFields: ReadonlySet<string> = new Set(["type", "source"]);

/** A text or image block, or any other block kept whole. */
export function contentPartFromAnthropic(block: JsonObject, param: string): ContentPart {
  const type = readRequiredString(block.type, `${param}.type`);
  if (type === "text") {
    const text = readRequiredString(block.text, `${param}.text`);
    if (collectExtraFields(block, textBlockFields) === undefined) return contentPart({ case: "text", value: text });
    return contentPart({ case: "other", value: block });
  }
  if (type === "image") {
    const url = imageUrlFromSource(block.source, `${param}.source`);
    if (url === undefined) return contentPart({ case: "other", value: block });
    const extra = collectExtraFields(block, imageBlockFields);
    if (extra === undefined) return contentPart({ case: "imageUrl", value: { $typeName: "iir.inference.v1.ImageUrl", url, detail: "" } });
    return contentPart({ case: "other", value: { ...extra, type: "image_url", image_url: { url } } });
  }
  return contentPart({ case: "other", value: block });
}

/**
 * An image source as a URL: base64 data as a `data:` URL, a `url` source as it is; undefined for
 * sources only Anthropic can resolve (`file` ids), which then travel whole.
 */
function imageUrlFromSource(value: unknown, param: string): string | undefined {
  if (value === undefined || value === null) throw missingParameter(param);
  if (!isJsonObject(value)) throw invalidType(param, "an object", value);
  const type = readRequiredString(value.type, `${param}.type`);
  if (type === "base64") {
    const mediaType = readRequiredString(value.media_type, `${param}.media_type`);
    const data = readRequiredString(value.data, `${param}.data`);
    return `data:${mediaType};base64,${data}`;
  }
  if (type === "url") return readRequiredString(value.url, `${param}.url`);
  if (type === "file") return undefined;
  throw invalidValue(`${param}.type`, type, ["base64", "url", "file"]);
}

/** A `tool_use` block of an assistant turn → a tool call whose arguments are its input as JSON text. */
export function toolCallFromAnthropic(block: JsonObject, param: string): ToolCall {
  const id = readRequiredString(block.id, `${param}.id`);
  const name = readRequiredString(block.name, `${param}.name`);
  const input = block.input;
  if (input === undefined || input === null) throw missingParameter(`${param}.input`);
  if (!isJsonObject(input)) throw invalidType(`${param}.input`, "an object", input);
  return {
    $typeName: "iir.inference.v1.ToolCall",
    id,
    type: "function",
    function: { $typeName: "iir.inference.v1.FunctionCall", name, arguments: JSON.stringify(input) },
  };
}

/** A `thinking` or `redacted_thinking` block → a reasoning block, signature and opaque data kept. */
export function reasoningFromAnthropic(block: JsonObject, param: string): ReasoningBlock {
  if (block.type === "redacted_thinking") {
    return { $typeName: "iir.inference.v1.ReasoningBlock", text: "", signature: "", redactedData: readRequiredString(block.data, `${param}.data`) };
  }
  return {
    $typeName: "iir.inference.v1.ReasoningBlock",
    text: readRequiredString(block.thinking, `${param}.thinking`),
    signature: readOptionalString(block.signature, `${param}.signature`) ?? "",
    redactedData: "",
  };
}

/** A content block list's entry, checked to be an object with a string `type`. */
export function readBlock(value: unknown, param: string): JsonObject & { type: string } {
  if (!isJsonObject(value)) throw invalidType(param, "an object", value);
  readRequiredString(value.type, `${param}.type`);
  return value as JsonObject & { type: string };
}

/** Plain text parts collapse into one string; anything else stays a list of parts. */
export function contentFromParts(parts: ContentPart[]): { case: "text"; value: string } | { case: "parts"; value: { $typeName: "iir.inference.v1.ContentParts"; parts: ContentPart[] } } {
  if (parts.length === 1 && parts[0]!.part.case === "text") return { case: "text", value: parts[0]!.part.value };
  return { case: "parts", value: { $typeName: "iir.inference.v1.ContentParts", parts } };
}

function contentPart(part: ContentPart["part"]): ContentPart {
  return { $typeName: "iir.inference.v1.ContentPart", part };
}
