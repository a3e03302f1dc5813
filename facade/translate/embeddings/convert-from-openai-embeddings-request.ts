import type { EmbedRequest } from "../../../gen/iir/inference/v1/inference_pb.js";
import { OpenAIHttpError } from "../../errors.js";
import { collectExtraFields, isJsonObject, readOptionalInteger, readOptionalString, readRequiredString } from "../openai-field-readers.js";
import { invalidType, invalidValue, missingParameter, RequestValidationError } from "../request-validation-error.js";

/** How the client wants its vectors written: JSON numbers, or base64 of little-endian float32. */
export type EmbeddingEncoding = "float" | "base64";

/** What the facade needs from one OpenAI embeddings request. */
export interface ConvertedEmbeddingsRequest {
  readonly request: EmbedRequest;
  readonly encoding: EmbeddingEncoding;
}

/** Inputs in one request: OpenAI's own limit. */
export const maximumInputs = 2048;
/** Characters one input may have: far above any embedding model's context, so only a runaway input is refused. */
export const maximumInputCharacters = 1024 * 1024;
/** Characters all inputs together may have (413 past it, as for a body too large). */
export const maximumTotalCharacters = 8 * 1024 * 1024;
// OpenAI's `dimensions` is at least 1; no model makes vectors longer than this.
const maximumDimensions = 65_536;

const knownRequestFields: ReadonlySet<string> = new Set(["model", "input", "encoding_format", "dimensions", "user"]);

/**
 * OpenAI embeddings JSON → `EmbedRequest`, validated as OpenAI validates it. `input` is one string or
 * an array of strings; arrays of token ids are refused (IIR routes text, and token ids are only
 * meaningful to one tokenizer). Fields without a typed home go to `extra`.
 */
export function embedRequestFromOpenAI(body: unknown): ConvertedEmbeddingsRequest {
  if (!isJsonObject(body)) throw new RequestValidationError("The request body must be a JSON object.", null, "invalid_type");
  const model = readRequiredString(body.model, "model");
  if (model === "") throw missingParameter("model");
  const format = readOptionalString(body.encoding_format, "encoding_format") ?? "float";
  if (format !== "float" && format !== "base64") throw invalidValue("encoding_format", format, ["float", "base64"]);
  const request: EmbedRequest = {
    $typeName: "iir.inference.v1.EmbedRequest",
    model,
    inputs: inputsFromOpenAI(body.input),
    dimensions: readOptionalInteger(body.dimensions, "dimensions", 1, maximumDimensions),
    user: readOptionalString(body.user, "user") ?? "",
    extra: collectExtraFields(body, knownRequestFields),
  };
  return { request, encoding: format };
}

function inputsFromOpenAI(value: unknown): string[] {
  if (value === undefined || value === null) throw missingParameter("input");
  const inputs = typeof value === "string" ? [value] : value;
  if (!Array.isArray(inputs)) throw invalidType("input", "a string or an array of strings", value);
  if (inputs.length === 0) {
    throw new RequestValidationError("Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.", "input", "empty_array");
  }
  if (inputs.length > maximumInputs) {
    throw new RequestValidationError(
      `Invalid 'input': array too long. Expected an array with maximum length ${maximumInputs}, but got an array with length ${inputs.length} instead.`,
      "input",
      "array_above_max_length",
    );
  }
  let total = 0;
  for (let index = 0; index < inputs.length; index++) {
    const input: unknown = inputs[index];
    const param = typeof value === "string" ? "input" : `input[${index}]`;
    // `[1, 2, 3]` is one input of token ids, `[[1, 2], [3]]` several.
    if (typeof input === "number") throw tokenIds("input");
    if (Array.isArray(input) && input.every((item) => typeof item === "number")) throw tokenIds(param);
    if (typeof input !== "string") throw invalidType(param, "a string", input);
    if (input === "") throw new RequestValidationError(`Invalid '${param}': empty string. Every input must be a non-empty string.`, param, "empty_string");
    if (input.length > maximumInputCharacters) {
      throw new RequestValidationError(
        `Invalid '${param}': string too long. Expected a string with maximum length ${maximumInputCharacters}, but got a string with length ${input.length} instead.`,
        param,
        "string_above_max_length",
      );
    }
    total += input.length;
  }
  if (total > maximumTotalCharacters) {
    throw new OpenAIHttpError(413, `The inputs hold ${total} characters; at most ${maximumTotalCharacters} are embedded in one request. Split them into several requests.`, "invalid_request_error", "input_too_large", "input");
  }
  return inputs as string[];
}

function tokenIds(param: string): RequestValidationError {
  return new RequestValidationError(
    `Invalid '${param}': arrays of token ids are not supported by this gateway, which routes to models with different tokenizers. Send the text as a string.`,
    param,
    "unsupported_value",
  );
}
