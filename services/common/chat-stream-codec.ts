import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { ChatStreamResponseSchema, type ChatStreamResponse } from "../../gen/iir/inference/v1/inference_pb.js";
import { grpcEnvelopes } from "./grpc-envelope.js";
import { isInt32 as isInt32Value, stringSize as stringBytes, varintSize, WireReader, writeStringField, writeVarint } from "./protobuf-wire.js";

/**
 * ChatStreamResponse in binary protobuf, written and read by hand. A streamed answer crosses the h2c
 * hop as one such message per upstream chunk, ~20 for a short answer, and protobuf-es's reflective
 * toBinary (after create()) and fromBinary cost ~3 and ~2 µs each, with their garbage: a quarter of
 * the router's CPU and a sixth of the facade's per streamed request in split mode. The message is
 * small and fixed (inference.proto), so both directions are spelled out here, producing exactly
 * protobuf-es's bytes and objects (tested against it, field by field). Anything this code does not
 * expect — an unknown field, a field repeated, a number that is not an int32 — goes to protobuf-es.
 */

type ChatStreamResponseInit = MessageInitShape<typeof ChatStreamResponseSchema>;

// Tags: field number << 3 | wire type (0 varint, 2 length-delimited).
const tag = {
  text: 0x0a,
  toolCall: 0x12,
  usage: 0x1a,
  finish: 0x22,
  reasoning: 0x2a,
  choiceIndex: 0x50,
  backend: 0x5a,
  cached: 0x60,
  model: 0x6a,
} as const;

/** An absent number (proto3's 0) or an int32. */
const isInt32 = (value: unknown): boolean => value === undefined || isInt32Value(value);

/** Size of an int32 field (0 when it is 0, which proto3 leaves out). */
const int32FieldSize = (value: number | undefined): number => (value === undefined || value === 0 ? 0 : 1 + varintSize(value));

/** Size of a string field's body and its length prefix, without the tag (0 when empty). */
const stringSize = (value: string | undefined): number => (value === undefined || value === "" ? 0 : stringBytes(value));

interface ToolCallInit {
  index?: number;
  id?: string;
  type?: string;
  name?: string;
  arguments?: string;
}
interface UsageInit {
  promptTokens?: number;
  completionTokens?: number;
  totalTokens?: number;
  cachedPromptTokens?: number;
  reasoningTokens?: number;
}

/** The size of the event's submessage, or -1 when this code does not take the message. */
function eventSize(event: ChatStreamResponseInit["event"]): number {
  switch (event?.case) {
    case undefined:
      return 0;
    case "text":
    case "reasoning": {
      const text = (event.value as { text?: string }).text;
      return text === undefined || text === "" ? 0 : 1 + stringSize(text);
    }
    case "toolCall": {
      const call = event.value as ToolCallInit;
      if (!isInt32(call.index)) return -1;
      const strings = [call.id, call.type, call.name, call.arguments];
      let size = int32FieldSize(call.index);
      for (const value of strings) if (value !== undefined && value !== "") size += 1 + stringSize(value);
      return size;
    }
    case "usage": {
      const usage = event.value as UsageInit;
      const values = [usage.promptTokens, usage.completionTokens, usage.totalTokens, usage.cachedPromptTokens, usage.reasoningTokens];
      let size = 0;
      for (const value of values) {
        if (!isInt32(value)) return -1;
        size += int32FieldSize(value);
      }
      return size;
    }
    case "finish": {
      const reason = (event.value as { reason?: number }).reason;
      return isInt32(reason) ? int32FieldSize(reason) : -1;
    }
    default:
      return -1;
  }
}

const eventTags: Record<string, number> = { text: tag.text, toolCall: tag.toolCall, usage: tag.usage, finish: tag.finish, reasoning: tag.reasoning };

/**
 * The messages as consecutive gRPC envelopes in one buffer (as grpcEnvelopes(toBinary(…)) for each
 * would give, byte for byte).
 */
export function encodeChatStreamResponses(messages: readonly ChatStreamResponseInit[]): Buffer {
  // Sizes first (each message's, and its event's), then one buffer written front to back.
  const sizes: number[] = [];
  let total = 0;
  for (const message of messages) {
    const event = eventSize(message.event);
    const size = event < 0 ? -1 : messageSize(message, event);
    if (size < 0) return grpcEnvelopes(messages.map((item) => toBinary(ChatStreamResponseSchema, create(ChatStreamResponseSchema, item))));
    sizes.push(size, event);
    total += 5 + size;
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < messages.length; i++) {
    out[at] = 0;
    out.writeUInt32BE(sizes[2 * i]!, at + 1);
    at = writeMessage(out, at + 5, messages[i]!, sizes[2 * i + 1]!);
  }
  return out;
}

function messageSize(message: ChatStreamResponseInit, event: number): number {
  if (!isInt32(message.choiceIndex)) return -1;
  let size = message.event?.case === undefined ? 0 : 1 + varintSize(event) + event;
  size += int32FieldSize(message.choiceIndex);
  if (message.backend !== undefined && message.backend !== "") size += 1 + stringSize(message.backend);
  if (message.cached === true) size += 2;
  if (message.model !== undefined && message.model !== "") size += 1 + stringSize(message.model);
  return size;
}

function writeMessage(out: Buffer, at: number, message: ChatStreamResponseInit, eventBytes: number): number {
  const event = message.event;
  if (event?.case !== undefined) {
    out[at++] = eventTags[event.case]!;
    at = writeVarint(out, at, eventBytes);
    switch (event.case) {
      case "text":
      case "reasoning":
        at = writeStringField(out, at, 0x0a, (event.value as { text?: string }).text);
        break;
      case "toolCall": {
        const call = event.value as ToolCallInit;
        at = writeInt32(out, at, 0x08, call.index);
        at = writeStringField(out, at, 0x12, call.id);
        at = writeStringField(out, at, 0x1a, call.type);
        at = writeStringField(out, at, 0x22, call.name);
        at = writeStringField(out, at, 0x2a, call.arguments);
        break;
      }
      case "usage": {
        const usage = event.value as UsageInit;
        at = writeInt32(out, at, 0x08, usage.promptTokens);
        at = writeInt32(out, at, 0x10, usage.completionTokens);
        at = writeInt32(out, at, 0x18, usage.totalTokens);
        at = writeInt32(out, at, 0x20, usage.cachedPromptTokens);
        at = writeInt32(out, at, 0x28, usage.reasoningTokens);
        break;
      }
      case "finish":
        at = writeInt32(out, at, 0x08, (event.value as { reason?: number }).reason);
        break;
    }
  }
  at = writeInt32(out, at, tag.choiceIndex, message.choiceIndex);
  at = writeStringField(out, at, tag.backend, message.backend);
  if (message.cached === true) {
    out[at++] = tag.cached;
    out[at++] = 1;
  }
  return writeStringField(out, at, tag.model, message.model);
}

function writeInt32(out: Buffer, at: number, fieldTag: number, value: number | undefined): number {
  if (value === undefined || value === 0) return at;
  out[at++] = fieldTag;
  return writeVarint(out, at, value);
}

const typeNames = {
  message: ChatStreamResponseSchema.typeName,
  text: "iir.inference.v1.TextDelta",
  reasoning: "iir.inference.v1.ReasoningDelta",
  toolCall: "iir.inference.v1.ToolCallDelta",
  usage: "iir.inference.v1.Usage",
  finish: "iir.inference.v1.Finish",
} as const;

/**
 * Reads one ChatStreamResponse, the bytes from `start` to `end` (all of them by default): as
 * fromBinary(ChatStreamResponseSchema, bytes) would, which reads what this does not.
 */
export function decodeChatStreamResponse(bytes: Uint8Array, start = 0, end = bytes.length): ChatStreamResponse {
  return readExpectedChatStreamResponse(bytes, start, end) ?? fromBinary(ChatStreamResponseSchema, bytes.subarray(start, end));
}

/** The message if it is well-formed and of the expected kind (each field once, known fields, valid UTF-8), else undefined. */
export function readExpectedChatStreamResponse(bytes: Uint8Array, start = 0, end = bytes.length): ChatStreamResponse | undefined {
  return new Reader(bytes, start, end).message();
}

/** A reader that gives up (undefined) at anything but the well-formed, expected case. */
class Reader extends WireReader {
  message(): ChatStreamResponse | undefined {
    const end = this.end;
    let event: ChatStreamResponse["event"] = { case: undefined };
    let choiceIndex = 0;
    let backend = "";
    let cached = false;
    let model = "";
    let seen = 0;
    while (this.at < end) {
      const fieldTag = this.buffer[this.at++]!;
      // One-byte tags only, each field once: a field repeated merges or overrides, a second oneof
      // member replaces the first — protobuf-es's job.
      if (fieldTag >= 0x80 || (seen & (1 << (fieldTag >> 3))) !== 0) return undefined;
      seen |= 1 << (fieldTag >> 3);
      if (fieldTag <= tag.reasoning && event.case !== undefined) return undefined;
      switch (fieldTag) {
        case tag.text:
        case tag.reasoning: {
          const text = this.within((subEnd) => this.text(subEnd));
          if (text === undefined) return undefined;
          event =
            fieldTag === tag.text
              ? { case: "text", value: { $typeName: typeNames.text, text } }
              : { case: "reasoning", value: { $typeName: typeNames.reasoning, text } };
          break;
        }
        case tag.toolCall: {
          const value = this.within((subEnd) => this.toolCall(subEnd));
          if (value === undefined) return undefined;
          event = { case: "toolCall", value };
          break;
        }
        case tag.usage: {
          const value = this.within((subEnd) => this.usage(subEnd));
          if (value === undefined) return undefined;
          event = { case: "usage", value };
          break;
        }
        case tag.finish: {
          const value = this.within((subEnd) => this.finish(subEnd));
          if (value === undefined) return undefined;
          event = { case: "finish", value };
          break;
        }
        case tag.choiceIndex: {
          const value = this.int32(end);
          if (value === undefined) return undefined;
          choiceIndex = value;
          break;
        }
        case tag.cached: {
          const value = this.uint32(end);
          if (value === undefined) return undefined;
          cached = value !== 0;
          break;
        }
        case tag.backend:
        case tag.model: {
          const value = this.string(end);
          if (value === undefined) return undefined;
          if (fieldTag === tag.backend) backend = value;
          else model = value;
          break;
        }
        default:
          return undefined;
      }
    }
    return { $typeName: typeNames.message, event, choiceIndex, backend, cached, model };
  }

  /** Reads a length-delimited submessage with `read`; undefined unless it read exactly the submessage. */
  private within<T>(read: (end: number) => T | undefined): T | undefined {
    const length = this.uint32(this.end);
    if (length === undefined) return undefined;
    const end = this.at + length;
    if (end > this.end) return undefined;
    const value = read(end);
    return this.at === end ? value : undefined;
  }

  /** TextDelta and ReasoningDelta: field 1, text. */
  private text(end: number): string | undefined {
    let text = "";
    let seen = false;
    while (this.at < end) {
      if (this.buffer[this.at++] !== 0x0a || seen) return undefined;
      seen = true;
      const value = this.string(end);
      if (value === undefined) return undefined;
      text = value;
    }
    return text;
  }

  private toolCall(end: number): Extract<ChatStreamResponse["event"], { case: "toolCall" }>["value"] | undefined {
    const call = { $typeName: typeNames.toolCall, index: 0, id: "", type: "", name: "", arguments: "" };
    let seen = 0;
    while (this.at < end) {
      const fieldTag = this.buffer[this.at++]!;
      if (fieldTag >= 0x80 || (seen & (1 << (fieldTag >> 3))) !== 0) return undefined;
      seen |= 1 << (fieldTag >> 3);
      if (fieldTag === 0x08) {
        const index = this.int32(end);
        if (index === undefined) return undefined;
        call.index = index;
        continue;
      }
      const value = fieldTag === 0x12 || fieldTag === 0x1a || fieldTag === 0x22 || fieldTag === 0x2a ? this.string(end) : undefined;
      if (value === undefined) return undefined;
      if (fieldTag === 0x12) call.id = value;
      else if (fieldTag === 0x1a) call.type = value;
      else if (fieldTag === 0x22) call.name = value;
      else call.arguments = value;
    }
    return call;
  }

  private usage(end: number): Extract<ChatStreamResponse["event"], { case: "usage" }>["value"] | undefined {
    const values = [0, 0, 0, 0, 0];
    let seen = 0;
    while (this.at < end) {
      const fieldTag = this.buffer[this.at++]!;
      const field = fieldTag >> 3;
      if ((fieldTag & 7) !== 0 || field < 1 || field > 5 || (seen & (1 << field)) !== 0) return undefined;
      seen |= 1 << field;
      const value = this.int32(end);
      if (value === undefined) return undefined;
      values[field - 1] = value;
    }
    const [promptTokens, completionTokens, totalTokens, cachedPromptTokens, reasoningTokens] = values as [number, number, number, number, number];
    return { $typeName: typeNames.usage, promptTokens, completionTokens, totalTokens, cachedPromptTokens, reasoningTokens };
  }

  private finish(end: number): Extract<ChatStreamResponse["event"], { case: "finish" }>["value"] | undefined {
    let reason = 0;
    let seen = false;
    while (this.at < end) {
      if (this.buffer[this.at++] !== 0x08 || seen) return undefined;
      seen = true;
      const value = this.int32(end);
      if (value === undefined) return undefined;
      reason = value;
    }
    return { $typeName: typeNames.finish, reason };
  }
}
