/**
 * Malformed OpenAI chat requests for fuzzing, generated from a seeded random source so a failing
 * case can be replayed: a valid request is mutated one to three times (fields dropped, replaced by
 * values of every wrong type, nested 2 to 10,000 levels deep, renamed to Object.prototype's member
 * names…), or the whole body is replaced by something that is not a request at all.
 */

/** A JSON fragment written into the body as it is: numbers JSON.stringify cannot write, nesting it would overflow on. */
class RawJson {
  constructor(readonly text: string) {}
}

type Json = null | boolean | number | string | RawJson | Json[] | { [key: string]: Json };
type JsonContainer = Json[] | { [key: string]: Json };
type JsonBody = { [key: string]: Json };

/** One generated request: the bytes to send and what was done to them, to name a failing case. */
export interface MalformedRequest {
  readonly body: Buffer;
  readonly mutations: readonly string[];
}

/** Random choices, all from one seeded source. */
interface Draw {
  random(): number;
  pick<T>(list: readonly T[]): T;
  chance(probability: number): boolean;
}

const prototypeNames = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "prototype", "__defineGetter__", "isPrototypeOf"];
const depths = [2, 5, 10, 30, 50, 60, 62, 63, 64, 65, 66, 100, 200, 1000, 10_000];
const oddStrings = [
  "", " ", "NaN", "Infinity", "-Infinity", "1e999", "0x10", "-1", "true", "null", "\u0000", "\ud800", "\udc00x\ud800", "\u202e\u200f",
  "\ufeff", "💥🎉", "日本語", "<script>", "%s%n%x", "../../etc/passwd", "\r\n\r\nHTTP/1.1 200 OK", "system", "user", "function",
];
const rawNumbers = ["1e400", "-1e400", "1E-400", "-0", "123456789012345678901234567890", "0.1e1", "2147483648", "9223372036854775808"];
const numbers = [0, -1, 1, 2, 0.5, -2.5, 1e308, -1e308, 2 ** 31 - 1, 2 ** 53 + 1, 2 ** 63, Number.MIN_VALUE];
const oddKeys = ["$typeName", "", "a.b", "\u0000", "model", "messages", "k".repeat(300)];

/** Creates the generator; every call of the result is the next request, for `models` in turn at random. */
export function createMalformedRequests(random: () => number, models: readonly string[]): () => MalformedRequest {
  const draw: Draw = {
    random,
    pick: (list) => list[Math.floor(random() * list.length)]!,
    chance: (probability) => random() < probability,
  };
  return () => {
    if (draw.chance(0.03)) return { body: draw.pick(wholeBodies)(draw), mutations: ["whole body"] };
    const body = baseRequest(draw, draw.pick(models));
    const applied: string[] = [];
    for (let count = 1 + Math.floor(random() * 3); count > 0; count--) applied.push(draw.pick(mutations)(body, draw));
    keepGenerationShort(body);
    return { body: Buffer.from(serialize(body)), mutations: applied };
  };
}

/** A valid request, plain or using most of the API (parts, tool calls, tools, structured output, sampling, streaming). */
function baseRequest(draw: Draw, model: string): JsonBody {
  const request: JsonBody = { model, messages: [{ role: "user", content: "hi" }], max_tokens: 2, max_completion_tokens: 2 };
  if (draw.chance(0.5)) {
    request.messages = [
      { role: "system", content: "be brief" },
      { role: "user", content: [{ type: "text", text: "hello" }, { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }] },
      { role: "tool", tool_call_id: "call_1", content: "42" },
      { role: "user", content: "and?", name: "u" },
    ];
  }
  if (draw.chance(0.3)) {
    request.tools = [{ type: "function", function: { name: "f", description: "d", parameters: { type: "object", properties: { a: { type: "string" } } } } }];
    request.tool_choice = draw.pick<Json>(["auto", "none", { type: "function", function: { name: "f" } }]);
  }
  if (draw.chance(0.3)) request.response_format = { type: "json_schema", json_schema: { name: "s", schema: { type: "object" } } };
  if (draw.chance(0.3)) Object.assign(request, { temperature: 0, top_p: 1, stop: ["\n"], seed: 7, n: 1, presence_penalty: 0, frequency_penalty: 0, user: "u" });
  if (draw.chance(0.3)) Object.assign(request, { stream: true, stream_options: { include_usage: true } });
  if (draw.chance(0.2)) request.metadata = { tag: "x" };
  return request;
}

/** Each mutation changes the body in place and says what it did. */
const mutations: readonly ((body: JsonBody, draw: Draw) => string)[] = [
  (body, draw) => {
    const [parent, key, path] = pickSlot(body, draw);
    setSlot(parent, key, oddValue(draw));
    return `replace ${path}`;
  },
  (body, draw) => {
    const [parent, key, path] = pickSlot(body, draw);
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete parent[key];
    return `drop ${path}`;
  },
  (body, draw) => {
    const [parent, key, path] = pickSlot(body, draw);
    setSlot(parent, key, deepNesting(draw));
    return `deepen ${path}`;
  },
  (body, draw) => {
    const [parent, key, path] = pickSlot(body, draw);
    let value = slotValue(parent, key);
    for (let level = 1 + Math.floor(draw.random() * 3); level > 0; level--) value = draw.chance(0.5) ? [value] : { value };
    setSlot(parent, key, value);
    return `wrap ${path}`;
  },
  (body, draw) => {
    const key = draw.chance(0.7) ? draw.pick(prototypeNames) : draw.pick(oddKeys);
    setSlot(pickObject(body, draw), key, oddValue(draw));
    return `add ${key.slice(0, 20)}`;
  },
  (body, draw) => {
    body.model = oddModel(draw);
    return "model";
  },
  (body, draw) => {
    const messages = body.messages;
    const message = Array.isArray(messages) && messages.length > 0 ? draw.pick(messages) : undefined;
    if (typeof message !== "object" || message === null || Array.isArray(message) || message instanceof RawJson) return "role (no message)";
    message.role = draw.chance(0.5) ? draw.pick(prototypeNames) : draw.pick<Json>([...oddStrings, { toString: 1 }, ["user"], 1, null]);
    return "role";
  },
  (body, draw) => {
    const [parent, key, path] = pickSlot(body, draw);
    const value = slotValue(parent, key);
    if (Array.isArray(value)) setSlot(parent, key, Object.fromEntries(value.map((entry, index) => [String(index), entry])));
    else if (typeof value === "object" && value !== null && !(value instanceof RawJson)) setSlot(parent, key, Object.values(value));
    else setSlot(parent, key, [value]);
    return `reshape ${path}`;
  },
];

/** Objects, arrays, or both in turn, `depths` levels deep, possibly keyed by Object.prototype's member names. */
function deepNesting(draw: Draw): RawJson {
  const levels = draw.pick(depths);
  const key = JSON.stringify(draw.chance(0.3) ? draw.pick(prototypeNames) : "a");
  const [open, close, levelsPerStep] = draw.pick<[string, string, number]>([[`{${key}:`, "}", 1], ["[", "]", 1], [`[{${key}:`, "}]", 2]]);
  const steps = Math.max(1, Math.floor(levels / levelsPerStep));
  return new RawJson(`${open.repeat(steps)}${draw.pick(["1", "{}", '"x"', "null"])}${close.repeat(steps)}`);
}

/** A value of any JSON type, most of them odd: huge, empty, unparseable by JSON.stringify, deep, prototype-shaped. */
function oddValue(draw: Draw): Json {
  switch (Math.floor(draw.random() * 8)) {
    case 0:
      return draw.pick([null, true, false]);
    case 1:
      return draw.pick(numbers);
    case 2:
      return new RawJson(draw.pick(rawNumbers));
    case 3:
      return draw.pick(oddStrings);
    case 4:
      return draw.chance(0.02) ? "x".repeat(200_000) : "y".repeat(Math.floor(draw.random() * 4096));
    case 5:
      return deepNesting(draw);
    case 6:
      return oddObject(draw);
    default:
      return draw.pick<Json>([[], [null], [[]], [1, "a", {}], [{ role: "user", content: "x" }]]);
  }
}

/** Objects that look like something else: with their own toString, a __proto__ key, a protobuf-es message's `$typeName`… */
function oddObject(draw: Draw): Json {
  return draw.pick<() => Json>([
    () => ({}),
    () => ({ toString: 1 }),
    () => ({ valueOf: {}, toString: "x" }),
    () => JSON.parse('{"__proto__":{"role":"system","x":1}}') as Json,
    () => ({ $typeName: "google.protobuf.Struct", fields: { a: 1 } }),
    () => ({ $typeName: "google.protobuf.ListValue", values: { length: 1_000_000_000 } }),
    () => ({ length: 1_000_000_000 }),
    () => ({ case: "text", value: "x" }),
    () => ({ type: "text", text: "x" }),
    () => ({ role: "user", content: "x" }),
  ])();
}

function oddModel(draw: Draw): string {
  const name = draw.pick(prototypeNames);
  return draw.pick([
    name, `${name}/x`, `x/${name}`, `local/${name}`, `openai/${name}`, `${name}/${name}`,
    "local/", "openai/", "/", "//gpt", "LOCAL/iir-tiny", " local/iir-tiny", "local/iir-tiny\u0000", "openai/gpt-fake\n",
    `openai/${"a".repeat(5000)}`, "\ud800/x", "local/iir-tiny/extra", "..", "",
    // Providers IIR knows but this mesh does not configure, and one it does not know.
    "groq/llama", "llm-d/x", "anthropic/claude",
  ]);
}

/** Bodies that are no request: not JSON, not an object, too deep, not UTF-8, numbers past a double. */
const wholeBodies: readonly ((draw: Draw) => Buffer)[] = [
  (draw) => Buffer.from(draw.pick(["", "{", "}", "null", "[]", '"text"', "1", "true", "{}", '{"a":1,"a":2}', "[{}]", "\ufeff{}", "{'model':1}"])),
  () => Buffer.from(`${"[".repeat(100_000)}${"]".repeat(100_000)}`),
  () => Buffer.from(`${'{"messages":'.repeat(5000)}1${"}".repeat(5000)}`),
  () => Buffer.from([0x7b, 0x22, 0x6d, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]),
  () => Buffer.from('{"model":"local/iir-tiny","messages":[{"role":"user","content":"\\ud800\\udc00\\udfff"}],"max_tokens":1}'),
  () => Buffer.from('{"model":"openai/gpt-fake","messages":[{"role":"user","content":"hi"}],"max_tokens":1e400}'),
];

/**
 * A request that may still be valid must not ask the tiny model for its whole context: unless a token
 * limit is invalid (then the request fails anyway), the limit the agent honours stays at 2.
 */
function keepGenerationShort(body: JsonBody): void {
  const large = (value: Json | undefined) => typeof value === "number" && Number.isInteger(value) && value > 2 && value <= 2 ** 31 - 1;
  const absent = (value: Json | undefined) => value === undefined || value === null;
  if (large(body.max_completion_tokens)) body.max_completion_tokens = 2;
  if (absent(body.max_completion_tokens) && (absent(body.max_tokens) || large(body.max_tokens))) body.max_completion_tokens = 2;
}

/** Every (container, key) in the body, with a readable path; RawJson is opaque. */
function slotsOf(value: JsonContainer, path: string, out: [JsonContainer, string, string][]): [JsonContainer, string, string][] {
  const entries: [string, Json][] = Array.isArray(value) ? value.map((entry, index) => [String(index), entry]) : Object.entries(value);
  for (const [key, child] of entries) {
    const childPath = Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`;
    out.push([value, key, childPath]);
    if (typeof child === "object" && child !== null && !(child instanceof RawJson)) slotsOf(child, childPath, out);
  }
  return out;
}

function pickSlot(body: JsonBody, draw: Draw): [JsonContainer, string, string] {
  const slots = slotsOf(body, "", []);
  return slots.length === 0 ? [body, "model", ".model"] : draw.pick(slots);
}

function pickObject(body: JsonBody, draw: Draw): JsonBody {
  const objects = new Set<JsonBody>([body]);
  for (const [parent] of slotsOf(body, "", [])) if (!Array.isArray(parent)) objects.add(parent);
  return draw.pick([...objects]);
}

function slotValue(parent: JsonContainer, key: string): Json {
  return Array.isArray(parent) ? parent[Number(key)]! : parent[key]!;
}

function setSlot(parent: JsonContainer, key: string, value: Json): void {
  if (Array.isArray(parent)) parent[Number(key)] = value;
  // defineProperty, not assignment: a key named __proto__ must stay a key.
  else Object.defineProperty(parent, key, { value, enumerable: true, configurable: true, writable: true });
}

/** JSON text with every RawJson written as it is. */
function serialize(body: JsonBody): string {
  const raw: string[] = [];
  const text = JSON.stringify(body, (_key, value: unknown) => {
    if (!(value instanceof RawJson)) return value;
    raw.push(value.text);
    return `\u0000raw:${raw.length - 1}\u0000`;
  });
  return text.replace(/"\\u0000raw:(\d+)\\u0000"/g, (_match, index: string) => raw[Number(index)]!);
}
