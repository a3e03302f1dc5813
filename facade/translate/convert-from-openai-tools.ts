import type { ResponseFormat, Tool, ToolChoice } from "../../gen/iir/inference/v1/inference_pb.js";
import {
  isJsonObject,
  readOptionalBoolean,
  readOptionalObject,
  readOptionalString,
  readRequiredString,
} from "./openai-field-readers.js";
import { invalidType, invalidValue, missingParameter } from "./request-validation-error.js";

const toolChoiceModes: ReadonlySet<string> = new Set(["none", "auto", "required"]);

/** OpenAI `tools` → proto tools; only function tools exist in the chat completions API. */
export function toolsFromOpenAI(value: unknown): Tool[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidType("tools", "an array", value);
  return value.map((entry: unknown, index): Tool => {
    const param = `tools[${index}]`;
    if (!isJsonObject(entry)) throw invalidType(param, "an object", entry);
    const type = readRequiredString(entry.type, `${param}.type`);
    if (type !== "function") throw invalidValue(`${param}.type`, type, ["function"]);
    const definition = requireObject(entry.function, `${param}.function`);
    const name = readRequiredString(definition.name, `${param}.function.name`);
    if (name === "") throw missingParameter(`${param}.function.name`);
    return {
      $typeName: "iir.inference.v1.Tool",
      type,
      function: {
        $typeName: "iir.inference.v1.FunctionDefinition",
        name,
        description: readOptionalString(definition.description, `${param}.function.description`) ?? "",
        parameters: readOptionalObject(definition.parameters, `${param}.function.parameters`),
        strict: readOptionalBoolean(definition.strict, `${param}.function.strict`),
      },
    };
  });
}

/** OpenAI `tool_choice`: a mode string or `{type: "function", function: {name}}`. */
export function toolChoiceFromOpenAI(value: unknown): ToolChoice | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") {
    if (!toolChoiceModes.has(value)) throw invalidValue("tool_choice", value, [...toolChoiceModes]);
    return { $typeName: "iir.inference.v1.ToolChoice", choice: { case: "mode", value } };
  }
  if (!isJsonObject(value)) throw invalidType("tool_choice", "one of a string or object", value);
  const type = readRequiredString(value.type, "tool_choice.type");
  if (type !== "function") throw invalidValue("tool_choice.type", type, ["function"]);
  const definition = requireObject(value.function, "tool_choice.function");
  const name = readRequiredString(definition.name, "tool_choice.function.name");
  return { $typeName: "iir.inference.v1.ToolChoice", choice: { case: "functionName", value: name } };
}

/** OpenAI `response_format`: `{type}` plus a `json_schema` object for structured outputs. */
export function responseFormatFromOpenAI(value: unknown): ResponseFormat | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isJsonObject(value)) throw invalidType("response_format", "an object", value);
  return {
    $typeName: "iir.inference.v1.ResponseFormat",
    type: readRequiredString(value.type, "response_format.type"),
    jsonSchema: readOptionalObject(value.json_schema, "response_format.json_schema"),
  };
}

function requireObject(value: unknown, param: string) {
  if (value === undefined || value === null) throw missingParameter(param);
  if (!isJsonObject(value)) throw invalidType(param, "an object", value);
  return value;
}
