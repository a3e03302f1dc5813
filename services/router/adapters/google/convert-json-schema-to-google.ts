/**
 * A tool's JSON Schema (or a response_format schema) as the Gemini API takes it: its `Schema` object
 * is a subset of OpenAPI 3.0, and a request with a keyword outside that subset fails with 400
 * ("Invalid JSON payload received. Unknown name \"additionalProperties\""). Keywords Gemini knows are
 * kept; the rest (additionalProperties, $schema, $id, $ref/$defs, definitions, const, patternProperties,
 * examples, default, strict…) are dropped, recursively. `const` becomes a one-value `enum`, and a
 * `type` list with "null" becomes the type plus `nullable: true`. The schema still describes the
 * arguments; only checks Gemini cannot make are lost.
 */
export function jsonSchemaToGoogle(schema: unknown): Record<string, unknown> | undefined {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return undefined;
  const source = schema as Record<string, unknown>;
  const result: Record<string, unknown> = {};
  for (const key of Object.keys(source)) {
    const value = source[key];
    if (!keptKeywords.has(key)) continue;
    switch (key) {
      case "type":
        addType(result, value);
        break;
      case "properties":
        result.properties = propertiesToGoogle(value);
        break;
      case "items":
        // A tuple (`items: [...]`) has no OpenAPI 3.0 form; its first schema stands for every item.
        result.items = jsonSchemaToGoogle(Array.isArray(value) ? value[0] : value) ?? {};
        break;
      case "anyOf":
        if (Array.isArray(value)) result.anyOf = value.map((entry) => jsonSchemaToGoogle(entry) ?? {});
        break;
      default:
        result[key] = value;
    }
  }
  if (Object.hasOwn(source, "const") && result.enum === undefined) result.enum = [source.const];
  // OpenAPI's enum is of strings; JSON Schema allows numbers too, which Gemini refuses.
  if (Array.isArray(result.enum)) result.enum = result.enum.map((entry) => (typeof entry === "string" ? entry : JSON.stringify(entry)));
  return result;
}

// The keywords of Gemini's Schema object (ai.google.dev/api/caching#Schema) that JSON Schema shares.
const keptKeywords: ReadonlySet<string> = new Set([
  "type",
  "format",
  "title",
  "description",
  "nullable",
  "enum",
  "maxItems",
  "minItems",
  "properties",
  "required",
  "minProperties",
  "maxProperties",
  "minLength",
  "maxLength",
  "pattern",
  "anyOf",
  "propertyOrdering",
  "items",
  "minimum",
  "maximum",
]);

function addType(result: Record<string, unknown>, type: unknown): void {
  if (!Array.isArray(type)) {
    if (typeof type === "string") result.type = type;
    return;
  }
  const kinds = type.filter((kind): kind is string => typeof kind === "string" && kind !== "null");
  if (kinds.length < type.length) result.nullable = true;
  if (kinds.length > 0) result.type = kinds[0];
}

function propertiesToGoogle(properties: unknown): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  if (typeof properties !== "object" || properties === null) return result;
  for (const [name, schema] of Object.entries(properties)) result[name] = jsonSchemaToGoogle(schema) ?? {};
  return result;
}
