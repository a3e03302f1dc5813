import { hash } from "node:crypto";
import type { DescField, DescMessage, DescOneof, JsonValue } from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import { ChatParamsSchema, type ChatParams } from "../../../gen/iir/inference/v1/inference_pb.js";

// Fields that do not change what the model answers: who asked, and how the answer is delivered.
const ignoredFields: ReadonlySet<string> = new Set(["user", "streamOptions"]);
// The same for provider extras passed through untouched (OpenAI's metadata/store only label the request).
const ignoredExtraFields: ReadonlySet<string> = new Set(["user", "stream", "stream_options", "metadata", "store"]);
const noFields: ReadonlySet<string> = new Set();

/**
 * The response cache key of a request: the model and a SHA-256 of every field that changes the
 * output (messages, sampling, stop, seed, tools, response_format, n, provider extras) in canonical
 * form, so field order and whitespace in the client's JSON do not matter, nor whether the request
 * came as OpenAI JSON or as protobuf.
 */
export function cacheKeyFor(params: ChatParams): string {
  const digest = hash("sha256", `${params.model}\n${canonicalMessage(chatParamsPlan, params, ignoredFields)}`, "base64url");
  return `${params.model.slice(0, 200)}:${digest}`;
}

/**
 * The canonical text of a message: its set fields in schema order as `"name":value`, unset and
 * default fields left out (as proto3 JSON leaves them out), JSON objects (Struct fields, the
 * `extra` of a request) with their keys sorted at every depth. It reads the message objects
 * directly along a plan made once per message type: this runs for every request, and a pass
 * through the reflection API costs several times more.
 */
function canonicalMessage(plan: MessagePlan, message: Record<string, unknown>, ignored: ReadonlySet<string>): string {
  let text = "{";
  for (const member of plan.members) {
    if (ignored.has(member.name)) continue;
    const value = message[member.name];
    let piece: string | undefined;
    if (member.oneof !== undefined) {
      const selected = value as { case?: string; value?: unknown } | undefined;
      const field = selected?.case === undefined ? undefined : member.oneof.get(selected.case);
      if (field !== undefined) piece = `{${JSON.stringify(field.name)}:${canonicalValue(field, selected!.value, false)}}`;
    } else {
      piece = canonicalField(member.field!, value, member.name === "extra" && ignored === ignoredFields);
    }
    if (piece === undefined) continue;
    text += `${text.length > 1 ? "," : ""}${JSON.stringify(member.name)}:${piece}`;
  }
  return `${text}}`;
}

/** A field's canonical text, or undefined when it is unset or holds its default. */
function canonicalField(field: FieldPlan, value: unknown, isRequestExtra: boolean): string | undefined {
  if (value === undefined || value === null) return undefined;
  switch (field.kind) {
    case "list": {
      const items = value as readonly unknown[];
      if (items.length === 0) return undefined;
      let text = "[";
      for (let index = 0; index < items.length; index++) text += `${index > 0 ? "," : ""}${canonicalValue(field, items[index], false)}`;
      return `${text}]`;
    }
    case "map": {
      const keys = Object.keys(value as object).sort();
      if (keys.length === 0) return undefined;
      const entries = keys.map((key) => `${JSON.stringify(key)}:${canonicalValue(field, (value as Record<string, unknown>)[key], false)}`);
      return `{${entries.join(",")}}`;
    }
    default:
      if (field.implicit && isZero(value)) return undefined;
      return canonicalValue(field, value, isRequestExtra);
  }
}

/** One value of a field (the field itself, a list item or a map value). */
function canonicalValue(field: FieldPlan, value: unknown, isRequestExtra: boolean): string {
  // Struct, Value and ListValue hold plain JSON in protobuf-es, the client's own: decided by the
  // field's type, never by the value, so a client's `$typeName` key is just a key.
  if (field.json) return canonicalJson(value as JsonValue, isRequestExtra ? ignoredExtraFields : noFields);
  if (field.message !== undefined) return canonicalMessage(field.message, value as Record<string, unknown>, noFields);
  return canonicalScalar(value);
}

function canonicalScalar(value: unknown): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      // NaN and ±Infinity have no JSON number; proto3 JSON writes them as strings.
      return Number.isFinite(value) ? String(value) : `"${String(value)}"`;
    case "bigint":
      return `"${value}"`;
    case "boolean":
      return value ? "true" : "false";
    default:
      return value instanceof Uint8Array ? `"${Buffer.from(value).toString("base64")}"` : JSON.stringify(value) ?? "null";
  }
}

function canonicalJson(value: JsonValue, ignored: ReadonlySet<string>): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) {
    let text = "[";
    for (let index = 0; index < value.length; index++) text += `${index > 0 ? "," : ""}${canonicalJson(value[index]!, noFields)}`;
    return `${text}]`;
  }
  let text = "{";
  for (const key of Object.keys(value).sort()) {
    if (ignored.has(key) || value[key] === undefined) continue;
    text += `${text.length > 1 ? "," : ""}${JSON.stringify(key)}:${canonicalJson(value[key]!, noFields)}`;
  }
  return `${text}}`;
}

function isZero(value: unknown): boolean {
  return value === "" || value === 0 || value === false || value === 0n || (value instanceof Uint8Array && value.length === 0);
}

/** How to read one message type: its fields and oneofs in schema order. */
interface MessagePlan {
  readonly members: readonly MemberPlan[];
}

interface MemberPlan {
  /** The property of the message object (a field's or a oneof's local name). */
  readonly name: string;
  readonly field?: FieldPlan;
  /** For a oneof: its fields by case name. */
  readonly oneof?: ReadonlyMap<string, FieldPlan>;
}

interface FieldPlan {
  readonly name: string;
  readonly kind: DescField["fieldKind"];
  /** proto3 implicit presence: the zero value means unset. */
  readonly implicit: boolean;
  /** The plan of the message type this field (or its items or values) holds. */
  readonly message?: MessagePlan;
  /** The field holds a JSON value (Struct, Value, ListValue). */
  readonly json?: boolean;
}

const jsonTypes: ReadonlySet<string> = new Set(["google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"]);

const plans = new Map<string, MessagePlan>();

function planOf(desc: DescMessage): MessagePlan {
  let plan = plans.get(desc.typeName);
  if (plan !== undefined) return plan;
  const members: MemberPlan[] = [];
  plan = { members };
  // Registered before its fields are planned, so recursive types end.
  plans.set(desc.typeName, plan);
  for (const member of desc.members) {
    if (member.kind === "oneof") members.push({ name: member.localName, oneof: oneofPlan(member) });
    else members.push({ name: member.localName, field: fieldPlan(member) });
  }
  return plan;
}

function oneofPlan(oneof: DescOneof): ReadonlyMap<string, FieldPlan> {
  return new Map(oneof.fields.map((field) => [field.localName, fieldPlan(field)]));
}

function fieldPlan(field: DescField): FieldPlan {
  const base = { name: field.localName, kind: field.fieldKind, implicit: field.presence === FeatureSet_FieldPresence.IMPLICIT };
  const type = "message" in field ? field.message : undefined;
  if (type === undefined) return base;
  return jsonTypes.has(type.typeName) ? { ...base, json: true } : { ...base, message: planOf(type) };
}

const chatParamsPlan = planOf(ChatParamsSchema);
