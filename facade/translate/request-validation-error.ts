/**
 * A request the facade refuses before it reaches the router, described the way OpenAI describes it:
 * the offending parameter as a path (`messages[0].role`) and a machine-readable code
 * (`invalid_type`, `missing_required_parameter`…), so SDKs surface `error.param` and `error.code`.
 */
export class RequestValidationError extends Error {
  /** Always 400: every validation failure is the client's to fix. */
  readonly status = 400;

  constructor(
    message: string,
    readonly param: string | null,
    readonly code: string | null,
  ) {
    super(message);
    this.name = "RequestValidationError";
  }
}

/** The JSON kind of a value in OpenAI's wording ("a string", "an array"…), for error messages. */
export function describeJsonKind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return "a string";
    case "number":
      return Number.isInteger(value) ? "an integer" : "a decimal";
    case "boolean":
      return "a boolean";
    case "object":
      return "an object";
    default:
      return typeof value;
  }
}

/** `Invalid type for 'param': expected X, but got Y instead.` */
export function invalidType(param: string, expected: string, value: unknown): RequestValidationError {
  return new RequestValidationError(
    `Invalid type for '${param}': expected ${expected}, but got ${describeJsonKind(value)} instead.`,
    param,
    "invalid_type",
  );
}

/** `Missing required parameter: 'param'.` */
export function missingParameter(param: string): RequestValidationError {
  return new RequestValidationError(`Missing required parameter: '${param}'.`, param, "missing_required_parameter");
}

/** `Invalid value: 'x'. Supported values are: 'a', 'b', and 'c'.` */
export function invalidValue(param: string, value: unknown, supported: readonly string[]): RequestValidationError {
  const listed = supported.map((entry) => `'${entry}'`);
  const choices = listed.length > 1 ? `${listed.slice(0, -1).join(", ")}, and ${listed[listed.length - 1]}` : listed.join("");
  return new RequestValidationError(
    `Invalid value: '${quotedValue(value)}'. Supported values are: ${choices}.`,
    param,
    "invalid_value",
  );
}

// Echoed values are cut: a megabyte-long role must not come back as a megabyte-long error.
const maximumEchoedLength = 256;

/**
 * A client's value as an error message may quote it. Never String(value) on an object: the client
 * chose its `toString` (`{"toString": 1}` throws) and its size.
 */
function quotedValue(value: unknown): string {
  if (typeof value === "string") return value.length > maximumEchoedLength ? `${value.slice(0, maximumEchoedLength)}…` : value;
  if (typeof value === "number" || typeof value === "boolean" || value === null) return JSON.stringify(value);
  return describeJsonKind(value);
}
