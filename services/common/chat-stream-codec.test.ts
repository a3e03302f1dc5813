import test from "ava";
import { outcomeOf, seededRandom } from "../../test/support/seeded-random.js";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { ChatStreamResponseSchema, FinishReason } from "../../gen/iir/inference/v1/inference_pb.js";
import { decodeChatStreamResponse, encodeChatStreamResponses, readExpectedChatStreamResponse } from "./chat-stream-codec.js";
import { grpcEnvelopes } from "./grpc-envelope.js";

// The hand-written ChatStreamResponse codec against protobuf-es, which it must match exactly: the
// same bytes for every message, the same object (or the same error) for every input.

type Init = MessageInitShape<typeof ChatStreamResponseSchema>;

const edgeInts = [0, 1, 127, 128, 16383, 16384, 2 ** 21, 2 ** 28, 2 ** 31 - 1, -1, -2, -128, -(2 ** 31), 300];
const edgeStrings = ["", "a", "Hello, world", "é", "日本語", "emoji 🙂 here", "\uFEFFbom first", "lone \uD800 surrogate", "x".repeat(127), "y".repeat(128), "z".repeat(20_000), "tab\tnew\nline\u0000nul"];

function generator(seed: number) {
  const next = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const maybe = <T>(value: () => T): T | undefined => (next() < 0.5 ? value() : undefined);
  const int = () => (next() < 0.7 ? pick(edgeInts) : Math.floor(next() * 2 ** 32) - 2 ** 31);
  const text = () => (next() < 0.6 ? pick(edgeStrings) : Array.from({ length: Math.floor(next() * 12) }, () => String.fromCodePoint(Math.floor(next() * 0x11000))).join(""));
  const event = (): Init["event"] => {
    switch (Math.floor(next() * 6)) {
      case 0:
        return { case: "text", value: { text: maybe(text) } };
      case 1:
        return { case: "reasoning", value: { text: maybe(text) } };
      case 2:
        return { case: "toolCall", value: { index: maybe(int), id: maybe(text), type: maybe(text), name: maybe(text), arguments: maybe(text) } };
      case 3:
        return { case: "usage", value: { promptTokens: maybe(int), completionTokens: maybe(int), totalTokens: maybe(int), cachedPromptTokens: maybe(int), reasoningTokens: maybe(int) } };
      case 4:
        return { case: "finish", value: { reason: maybe(() => (next() < 0.8 ? pick([FinishReason.STOP, FinishReason.LENGTH, FinishReason.TOOL_CALLS]) : int())) } };
      default:
        return undefined;
    }
  };
  return (): Init => ({ event: event(), choiceIndex: maybe(int), backend: maybe(text), cached: maybe(() => next() < 0.5), model: maybe(text) });
}

const protobufEs = (messages: readonly Init[]) => grpcEnvelopes(messages.map((message) => toBinary(ChatStreamResponseSchema, create(ChatStreamResponseSchema, message))));

test("messages encode to protobuf-es's bytes, one by one and in batches", (t) => {
  const next = generator(1);
  const messages = Array.from({ length: 3000 }, next);
  for (const message of messages) t.true(encodeChatStreamResponses([message]).equals(protobufEs([message])), JSON.stringify(message));
  for (let i = 0; i < messages.length; i += 20) {
    const batch = messages.slice(i, i + 20);
    t.true(encodeChatStreamResponses(batch).equals(protobufEs(batch)));
  }
  // Whole messages (as create() makes them) as well as init shapes.
  const whole = messages.slice(0, 200).map((message) => create(ChatStreamResponseSchema, message));
  t.true(encodeChatStreamResponses(whole).equals(protobufEs(whole)));
});

test("what protobuf-es would refuse to encode is refused the same way", (t) => {
  for (const message of [{ choiceIndex: 1.5 }, { choiceIndex: 2 ** 31 }, { event: { case: "usage", value: { totalTokens: Number.NaN } } }] as Init[]) {
    t.deepEqual(outcomeOf(() => encodeChatStreamResponses([message])), outcomeOf(() => protobufEs([message])));
  }
});

test("encoded messages decode to protobuf-es's objects, by hand unless a string holds U+FFFD", (t) => {
  const next = generator(2);
  for (let i = 0; i < 3000; i++) {
    const bytes = toBinary(ChatStreamResponseSchema, create(ChatStreamResponseSchema, next()));
    const expected = fromBinary(ChatStreamResponseSchema, bytes);
    t.deepEqual(decodeChatStreamResponse(bytes), expected);
    // A lone surrogate is written as U+FFFD, which the hand path leaves to protobuf-es.
    if (!Buffer.from(bytes).includes(Buffer.from("\uFFFD"))) t.deepEqual(readExpectedChatStreamResponse(bytes), expected);
  }
});

test("any other bytes decode as protobuf-es decodes them, or fail as it fails", (t) => {
  const next = generator(3);
  const rand = seededRandom(4);
  const handmade = [
    // Fields out of order, a field twice, two oneof members, an unknown field, a non-minimal varint,
    // a bool as a 10-byte varint, a group, a truncated string, a length past the end, bad UTF-8.
    [0x6a, 1, 0x6d, 0x0a, 2, 0x0a, 0],
    [0x50, 1, 0x50, 2],
    [0x0a, 2, 0x0a, 0, 0x22, 2, 0x08, 1],
    [0x0a, 3, 0x0a, 1, 0x61, 0x78, 5],
    [0x50, 0x81, 0x80, 0x80, 0x80, 0x00],
    [0x60, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
    [0x0b, 0x0c],
    [0x5a, 5, 0x61],
    [0x0a, 9, 0x0a, 1],
    [0x5a, 4, 0xff, 0xc3, 0x28, 0xe2],
    [0x5a, 3, 0xef, 0xbb, 0xbf],
    [0x1a, 4, 0x08, 1, 0x08, 2],
    [0x12, 2, 0x08, 0x80],
    [0x22, 11, 0x08, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x01],
  ].map((bytes) => new Uint8Array(bytes));
  const mutated: Uint8Array[] = [];
  for (let i = 0; i < 3000; i++) {
    const bytes = Buffer.from(toBinary(ChatStreamResponseSchema, create(ChatStreamResponseSchema, next())));
    if (bytes.length === 0) continue;
    const copy = Buffer.from(bytes);
    const at = Math.floor(rand() * copy.length);
    const how = Math.floor(rand() * 3);
    if (how === 0) copy[at] = Math.floor(rand() * 256);
    mutated.push(how === 1 ? copy.subarray(0, at) : how === 2 ? Buffer.concat([copy, bytes.subarray(0, at)]) : copy);
  }
  for (const bytes of [...handmade, ...mutated]) {
    const expected = outcomeOf(() => fromBinary(ChatStreamResponseSchema, bytes));
    t.deepEqual(outcomeOf(() => decodeChatStreamResponse(bytes)), expected, Buffer.from(bytes).toString("hex"));
    // Read in place, between other bytes (as the facade reads a message out of a DATA frame): the
    // bytes around it must change nothing, whatever a corrupted length says.
    const before = Buffer.from([0x0a, 0x7f, 0x5a]);
    const after = Buffer.from([0x12, 0x05, 0x61, 0x62, 0x63, 0x64, 0x65, 0x80]);
    const joined = Buffer.concat([before, bytes, after]);
    // Of the same type as `bytes`: protobuf-es keeps unknown fields as subarrays of what it read.
    const framed = Buffer.isBuffer(bytes) ? joined : new Uint8Array(joined);
    t.deepEqual(outcomeOf(() => decodeChatStreamResponse(framed, before.length, before.length + bytes.length)), expected, `in place: ${Buffer.from(bytes).toString("hex")}`);
  }
});
