import type { JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ChatParams, Tool, ToolChoice } from "../../../../gen/iir/inference/v1/inference_pb.js";
import { jsonSchemaToGoogle } from "./convert-json-schema-to-google.js";
import { messagesToGoogle } from "./convert-to-google-messages.js";
import type {
  GoogleFunctionDeclaration,
  GoogleGenerateContentRequest,
  GoogleGenerationConfig,
  GoogleToolConfig,
} from "./google-wire-types.js";

// Request fields of GenerateContentRequest without a typed home in ChatParams that a client may send
// as extras. Any other extra (OpenAI's logit_bias, logprobs, parallel_tool_calls…) is left out: Gemini
// refuses a body with a field it does not know.
const passedExtras: ReadonlySet<string> = new Set(["safetySettings", "cachedContent"]);

/**
 * The Gemini `generateContent` body for a request (the same body streams). Unset optional fields are
 * left out so Gemini applies its own defaults. `params.prompt` (the legacy completions API) becomes
 * one user turn.
 */
export function chatParamsToGoogleRequest(params: ChatParams, upstreamModel: string): GoogleGenerateContentRequest {
  const { contents, systemInstruction } =
    params.prompt === undefined
      ? messagesToGoogle(params.messages, upstreamModel)
      : { contents: [{ role: "user" as const, parts: [{ text: params.prompt }] }], systemInstruction: undefined };
  const request: GoogleGenerateContentRequest = { contents };
  const extra: JsonObject | undefined = params.extra;
  if (extra !== undefined) {
    for (const field of Object.keys(extra)) if (passedExtras.has(field)) request[field] = extra[field];
  }
  if (systemInstruction !== undefined) request.systemInstruction = systemInstruction;
  const declarations = params.tools.map(toolToGoogle);
  if (declarations.length > 0) request.tools = [{ functionDeclarations: declarations }];
  const toolConfig = toolChoiceToGoogle(params.toolChoice);
  if (toolConfig !== undefined) request.toolConfig = toolConfig;
  const generationConfig = generationConfigOf(params);
  if (Object.keys(generationConfig).length > 0) request.generationConfig = generationConfig;
  return request;
}

function generationConfigOf(params: ChatParams): GoogleGenerationConfig {
  const config: GoogleGenerationConfig = {};
  if (params.temperature !== undefined) config.temperature = params.temperature;
  if (params.topP !== undefined) config.topP = params.topP;
  if (params.topK !== undefined) config.topK = params.topK;
  const maxTokens = params.maxCompletionTokens ?? params.maxTokens;
  if (maxTokens !== undefined) config.maxOutputTokens = maxTokens;
  if (params.stop.length > 0) config.stopSequences = [...params.stop];
  if (params.n !== undefined) config.candidateCount = params.n;
  if (params.seed !== undefined) config.seed = Number(params.seed);
  if (params.presencePenalty !== undefined) config.presencePenalty = params.presencePenalty;
  if (params.frequencyPenalty !== undefined) config.frequencyPenalty = params.frequencyPenalty;
  const format = params.responseFormat;
  if (format?.type === "json_object") config.responseMimeType = "application/json";
  else if (format?.type === "json_schema") {
    config.responseMimeType = "application/json";
    // OpenAI wraps the schema: {name, schema, strict}.
    const schema = jsonSchemaToGoogle(format.jsonSchema?.schema);
    if (schema !== undefined) config.responseSchema = schema;
  }
  const budget = params.reasoningBudgetTokens;
  if (budget !== undefined) {
    // A budget of 0 turns thinking off where the model allows it; a positive one also asks for the thoughts.
    config.thinkingConfig = budget > 0 ? { thinkingBudget: budget, includeThoughts: true } : { thinkingBudget: 0 };
  }
  return config;
}

function toolToGoogle(tool: Tool, index: number): GoogleFunctionDeclaration {
  if (tool.type !== "" && tool.type !== "function") {
    throw new ConnectError(`tools[${index}] has type '${tool.type}', which Gemini does not run: only function tools are supported`, Code.InvalidArgument);
  }
  const definition = tool.function;
  if (definition === undefined || definition.name === "") throw new ConnectError(`tools[${index}] has no function name`, Code.InvalidArgument);
  const declaration: GoogleFunctionDeclaration = { name: definition.name };
  if (definition.description !== "") declaration.description = definition.description;
  const parameters = definition.parameters;
  // Gemini refuses an OBJECT schema without properties: a function without arguments has no schema.
  if (parameters !== undefined && !isEmptyObjectSchema(parameters)) declaration.parameters = jsonSchemaToGoogle(parameters);
  return declaration;
}

function isEmptyObjectSchema(schema: JsonObject): boolean {
  const properties = schema.properties;
  return schema.type === "object" && (properties === undefined || properties === null || (typeof properties === "object" && Object.keys(properties).length === 0));
}

function toolChoiceToGoogle(choice: ToolChoice | undefined): GoogleToolConfig | undefined {
  const value = choice?.choice;
  if (value === undefined || value.case === undefined) return undefined;
  if (value.case === "functionName") return { functionCallingConfig: { mode: "ANY", allowedFunctionNames: [value.value] } };
  switch (value.value) {
    case "auto":
      return { functionCallingConfig: { mode: "AUTO" } };
    case "none":
      return { functionCallingConfig: { mode: "NONE" } };
    case "required":
      return { functionCallingConfig: { mode: "ANY" } };
    default:
      throw new ConnectError(`tool_choice '${value.value}' is not one of none, auto or required`, Code.InvalidArgument);
  }
}
