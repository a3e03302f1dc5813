import type { JsonObject } from "@bufbuild/protobuf";
import type { Tool, ToolChoice } from "../../../gen/iir/inference/v1/inference_pb.js";
import { isJsonObject, readOptionalBoolean, readOptionalString, readRequiredString } from "../openai-field-readers.js";
import { invalidType, invalidValue, missingParameter } from "../request-validation-error.js";

/** What Anthropic's `tool_choice` becomes: the proto choice, and whether parallel calls were turned off. */
export interface ConvertedToolChoice {
  readonly toolChoice: ToolChoice | undefined;
  /** `disable_parallel_tool_use: true`, sent on as OpenAI's `parallel_tool_calls: false`. */
  readonly disableParallel: boolean;
}

const toolChoiceTypes = ["auto", "any", "tool", "none"] as const;

/**
 * Anthropic client tools (`{name, description, input_schema}`, `type` absent or `custom`) → function
 * tools whose parameters are the input schema. Anthropic's server tools (web search, code
 * execution…) run only at Anthropic and have no home in the contract: refused with a 400.
 */
export function toolsFromAnthropic(value: unknown): Tool[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidType("tools", "an array", value);
  return value.map((entry: unknown, index): Tool => {
    const param = `tools.${index}`;
    if (!isJsonObject(entry)) throw invalidType(param, "an object", entry);
    const type = readOptionalString(entry.type, `${param}.type`) ?? "custom";
    if (type !== "custom") throw invalidValue(`${param}.type`, type, ["custom"]);
    const name = readRequiredString(entry.name, `${param}.name`);
    if (name === "") throw missingParameter(`${param}.name`);
    return {
      $typeName: "iir.inference.v1.Tool",
      type: "function",
      function: {
        $typeName: "iir.inference.v1.FunctionDefinition",
        name,
        description: readOptionalString(entry.description, `${param}.description`) ?? "",
        parameters: readInputSchema(entry.input_schema, `${param}.input_schema`),
        strict: readOptionalBoolean(entry.strict, `${param}.strict`),
      },
    };
  });
}

/** `{type: auto|any|tool|none, name?, disable_parallel_tool_use?}` → OpenAI's modes auto, required, a function, none. */
export function toolChoiceFromAnthropic(value: unknown): ConvertedToolChoice {
  if (value === undefined || value === null) return { toolChoice: undefined, disableParallel: false };
  if (!isJsonObject(value)) throw invalidType("tool_choice", "an object", value);
  const type = readRequiredString(value.type, "tool_choice.type");
  const disableParallel = readOptionalBoolean(value.disable_parallel_tool_use, "tool_choice.disable_parallel_tool_use") ?? false;
  const choice = (choice: ToolChoice["choice"]): ConvertedToolChoice => ({ toolChoice: { $typeName: "iir.inference.v1.ToolChoice", choice }, disableParallel });
  switch (type) {
    case "auto":
      return choice({ case: "mode", value: "auto" });
    case "any":
      return choice({ case: "mode", value: "required" });
    case "none":
      return choice({ case: "mode", value: "none" });
    case "tool":
      return choice({ case: "functionName", value: readRequiredString(value.name, "tool_choice.name") });
    default:
      throw invalidValue("tool_choice.type", type, toolChoiceTypes);
  }
}

function readInputSchema(value: unknown, param: string): JsonObject {
  if (value === undefined || value === null) throw missingParameter(param);
  if (!isJsonObject(value)) throw invalidType(param, "an object", value);
  return value;
}
