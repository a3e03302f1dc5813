import test from "ava";
import { outcomeOf, seededRandom } from "../../test/support/seeded-random.js";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { ChatRequestSchema, ChatStreamRequestSchema, Role } from "../../gen/iir/inference/v1/inference_pb.js";
import { decodeChatParamsRequest, encodeChatParamsRequest, readExpectedChatParamsRequest } from "./chat-request-codec.js";

// The hand-written ChatRequest/ChatStreamRequest codec against protobuf-es: the same bytes for every
// request, the same object (or the same error) for every input, whether or not the request is of
// the kind the hand path takes.

type Init = MessageInitShape<typeof ChatRequestSchema>;

const edgeInts = [0, 1, 127, 128, 16384, 2 ** 31 - 1, -1, -(2 ** 31)];
const edgeDoubles = [0, -0, 1, 0.7, -2, 1e-300, Number.MAX_VALUE, Number.NaN, Number.POSITIVE_INFINITY];
const edgeStrings = ["", "hi", "Write a haiku about a gateway.", "é日本🙂", "\uFEFFbom", "lone \uDC00", "x".repeat(200), "y".repeat(17_000)];

function generator(seed: number, plainOnly: boolean) {
  const next = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const maybe = <T>(value: () => T, p = 0.5): T | undefined => (next() < p ? value() : undefined);
  const text = () => pick(edgeStrings);
  const message = (): NonNullable<NonNullable<Init["params"]>["messages"]>[number] => {
    const odd = !plainOnly && next() < 0.1;
    return {
      role: next() < 0.9 ? pick([Role.SYSTEM, Role.USER, Role.ASSISTANT, Role.TOOL, Role.DEVELOPER]) : pick(edgeInts),
      content: odd ? { case: "parts", value: { parts: [{ part: { case: "text", value: text() } }] } } : next() < 0.9 ? { case: "text", value: text() } : undefined,
      name: maybe(text, 0.2),
      toolCallId: maybe(text, 0.2),
      toolCalls: !plainOnly && next() < 0.05 ? [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }] : undefined,
    };
  };
  return (): Init => ({
    params: {
      model: maybe(() => pick(["openai/gpt-4o-mini", "", "local/iir-tiny"]), 0.95),
      messages: Array.from({ length: Math.floor(next() * 4) }, message),
      temperature: maybe(() => pick(edgeDoubles), 0.3),
      topP: maybe(() => pick(edgeDoubles), 0.2),
      maxTokens: maybe(() => pick(edgeInts), 0.3),
      maxCompletionTokens: maybe(() => pick(edgeInts), 0.2),
      stop: maybe(() => Array.from({ length: 1 + Math.floor(next() * 3) }, text), 0.2),
      n: maybe(() => pick(edgeInts), 0.2),
      presencePenalty: maybe(() => pick(edgeDoubles), 0.2),
      frequencyPenalty: maybe(() => pick(edgeDoubles), 0.2),
      user: maybe(text, 0.2),
      streamOptions: maybe(() => ({ includeUsage: next() < 0.5 }), 0.3),
      seed: plainOnly ? undefined : maybe(() => BigInt(pick(edgeInts)), 0.1),
      tools: !plainOnly && next() < 0.1 ? [{ type: "function", function: { name: "f", parameters: { type: "object" } } }] : undefined,
      toolChoice: !plainOnly && next() < 0.05 ? { choice: { case: "mode", value: "auto" } } : undefined,
      extra: !plainOnly && next() < 0.05 ? { logprobs: true } : undefined,
    },
  });
}

const schemas = [ChatRequestSchema, ChatStreamRequestSchema] as const;

test("requests encode to protobuf-es's bytes, of the usual kind or not", (t) => {
  for (const plainOnly of [true, false]) {
    const next = generator(plainOnly ? 1 : 2, plainOnly);
    for (let i = 0; i < 2000; i++) {
      const request = next();
      for (const schema of schemas) {
        const expected = toBinary(schema, create(schema, request as never));
        t.true(Buffer.from(encodeChatParamsRequest(schema, request as never)).equals(expected), JSON.stringify(request, (_k, v) => (typeof v === "bigint" ? String(v) : v)));
      }
    }
  }
  t.is(encodeChatParamsRequest(ChatRequestSchema, {}).length, 0);
});

test("what protobuf-es would refuse to encode is refused the same way", (t) => {

  for (const params of [{ maxTokens: 1.5 }, { n: 2 ** 31 }, { messages: [{ role: 0.5 }] }, { temperature: "hot" }] as never[]) {
    t.deepEqual(outcomeOf(() => encodeChatParamsRequest(ChatRequestSchema, { params })), outcomeOf(() => toBinary(ChatRequestSchema, create(ChatRequestSchema, { params }))));
  }
});

test("requests decode to protobuf-es's objects, the usual kind by hand", (t) => {
  for (const plainOnly of [true, false]) {
    const next = generator(plainOnly ? 3 : 4, plainOnly);
    for (let i = 0; i < 2000; i++) {
      for (const schema of schemas) {
        const bytes = toBinary(schema, create(schema, next() as never));
        const expected = fromBinary(schema, bytes);
        t.deepEqual(decodeChatParamsRequest(schema, bytes), expected);
        if (plainOnly && !Buffer.from(bytes).includes(Buffer.from("\uFFFD"))) t.deepEqual(readExpectedChatParamsRequest(schema, bytes), expected);
      }
    }
  }
});

test("any other bytes decode as protobuf-es decodes them, or fail as it fails", (t) => {
  const next = generator(5, false);
  const rand = seededRandom(6);

  const inputs: Uint8Array[] = [
    // params twice (merged), a message field twice, stream_options with a stray field, a bad two-byte tag.
    new Uint8Array([0x0a, 2, 0x0a, 0, 0x0a, 3, 0x0a, 1, 0x6d]),
    new Uint8Array([0x0a, 6, 0x12, 4, 0x08, 1, 0x08, 3]),
    new Uint8Array([0x0a, 5, 0x82, 0x01, 2, 0x10, 1]),
    new Uint8Array([0x0a, 3, 0x82, 0x02, 0]),
    new Uint8Array([0x0a, 4, 0x29, 0, 0, 0]),
  ];
  for (let i = 0; i < 3000; i++) {
    const bytes = Buffer.from(toBinary(ChatRequestSchema, create(ChatRequestSchema, next() as never)));
    if (bytes.length === 0) continue;
    const copy = Buffer.from(bytes);
    const at = Math.floor(rand() * copy.length);
    const how = Math.floor(rand() * 3);
    if (how === 0) copy[at] = Math.floor(rand() * 256);
    inputs.push(how === 1 ? copy.subarray(0, at) : how === 2 ? Buffer.concat([copy, bytes.subarray(0, at)]) : copy);
  }
  for (const bytes of inputs) {
    t.deepEqual(
      outcomeOf(() => decodeChatParamsRequest(ChatRequestSchema, bytes)),
      outcomeOf(() => fromBinary(ChatRequestSchema, bytes)),
      Buffer.from(bytes).toString("hex").slice(0, 200),
    );
  }
});
