import type { JsonObject } from "@bufbuild/protobuf";
import { invalidType, missingParameter, RequestValidationError } from "./request-validation-error.js";

/**
 * Typed readers for one field of a parsed OpenAI request. Each takes the raw JSON value and the
 * parameter path OpenAI would name in its error, and either returns the typed value or throws a
 * RequestValidationError. `null` counts as absent for optional fields: SDKs and LangChain send
 * `"temperature": null` for "not set".
 */

/** Whether a parsed JSON value is an object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A required non-null string. */
export function readRequiredString(value: unknown, param: string): string {
  if (value === undefined || value === null) throw missingParameter(param);
  if (typeof value !== "string") throw invalidType(param, "a string", value);
  return value;
}

/** An optional string. */
export function readOptionalString(value: unknown, param: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalidType(param, "a string", value);
  return value;
}

/** An optional boolean. */
export function readOptionalBoolean(value: unknown, param: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw invalidType(param, "a boolean", value);
  return value;
}

/** An optional JSON object. */
export function readOptionalObject(value: unknown, param: string): JsonObject | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isJsonObject(value)) throw invalidType(param, "an object", value);
  return value;
}

/** An optional number within [minimum, maximum]. */
export function readOptionalNumber(value: unknown, param: string, minimum: number, maximum: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number") throw invalidType(param, "a decimal", value);
  checkRange(value, param, "decimal", minimum, maximum);
  return value;
}

/** An optional integer within [minimum, maximum]. */
export function readOptionalInteger(value: unknown, param: string, minimum: number, maximum: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value)) throw invalidType(param, "an integer", value);
  checkRange(value, param, "integer", minimum, maximum);
  return value;
}

function checkRange(value: number, param: string, kind: "decimal" | "integer", minimum: number, maximum: number): void {
  if (value < minimum) {
    throw new RequestValidationError(
      `Invalid '${param}': ${kind} below minimum value. Expected a value >= ${minimum}, but got ${value} instead.`,
      param,
      `${kind}_below_min_value`,
    );
  }
  if (value > maximum) {
    throw new RequestValidationError(
      `Invalid '${param}': ${kind} above maximum value. Expected a value <= ${maximum}, but got ${value} instead.`,
      param,
      `${kind}_above_max_value`,
    );
  }
}

/** A required array; `minimum` is the shortest length accepted. */
export function readRequiredArray(value: unknown, param: string, minimum: number): unknown[] {
  if (value === undefined || value === null) throw missingParameter(param);
  if (!Array.isArray(value)) throw invalidType(param, "an array", value);
  if (value.length < minimum) {
    throw new RequestValidationError(
      `Invalid '${param}': empty array. Expected an array with minimum length ${minimum}, but got an empty array instead.`,
      param,
      "empty_array",
    );
  }
  return value;
}

/**
 * The fields of `source` not named in `known`, for a Struct that carries them through untouched.
 * `__proto__` is dropped: assigning it would change the copy's prototype instead of adding a field.
 */
export function collectExtraFields(source: JsonObject, known: ReadonlySet<string>): JsonObject | undefined {
  let extra: JsonObject | undefined;
  for (const key in source) {
    if (known.has(key) || key === "__proto__") continue;
    const value = source[key];
    if (value === undefined) continue;
    extra ??= {};
    extra[key] = value;
  }
  return extra;
}
