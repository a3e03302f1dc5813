import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { ChatRequestSchema, ChatStreamRequestSchema, type ChatRequest, type ChatStreamRequest, type Message } from "../../gen/iir/inference/v1/inference_pb.js";
import { isInt32, stringSize, varintSize, WireReader, writeStringBody, writeStringField, writeVarint } from "./protobuf-wire.js";

/**
 * ChatRequest and ChatStreamRequest (both `ChatParams params = 1`) in binary protobuf, written by the
 * facade and read by the router by hand for the usual request: a model, plain-text messages and
 * scalar sampling parameters. protobuf-es's create() + toBinary() and fromBinary() walk the schema by
 * reflection, ~10% of the facade's CPU per request in split mode. The output is exactly
 * protobuf-es's (tested against it); a request with tools, content parts, tool calls, a response
 * format, a seed or extra fields — or anything malformed or unexpected on reading — goes to
 * protobuf-es instead.
 */

type RequestSchema = typeof ChatRequestSchema | typeof ChatStreamRequestSchema;
type ParamsInit = NonNullable<MessageInitShape<typeof ChatRequestSchema>["params"]>;
type MessageInit = NonNullable<ParamsInit["messages"]>[number];

const empty = (value: string | undefined): boolean => value === undefined || value === "";
const none = (list: readonly unknown[] | undefined): boolean => list === undefined || list.length === 0;

/** The request's bytes, as toBinary(schema, create(schema, request)) gives them. */
export function encodeChatParamsRequest(schema: RequestSchema, request: MessageInitShape<RequestSchema>): Uint8Array {
  const size = request.params === undefined ? 0 : paramsSize(request.params);
  if (size < 0) return toBinary(schema, create(schema, request as never));
  if (request.params === undefined) return new Uint8Array(0);
  const out = Buffer.allocUnsafe(1 + varintSize(size) + size);
  out[0] = 0x0a;
  const at = writeParams(out, writeVarint(out, 1, size), request.params);
  return at === out.length ? out : toBinary(schema, create(schema, request as never));
}

/** Bytes of the message's fields, or -1 when it holds something this code leaves to protobuf-es. */
function messageSize(message: MessageInit): number {
  if (!none(message.toolCalls) || message.extra !== undefined) return -1;
  const role = message.role ?? 0;
  if (!isInt32(role)) return -1;
  let size = role === 0 ? 0 : 1 + varintSize(role);
  const content = message.content;
  if (content?.case === "text") size += 1 + stringSize(content.value);
  else if (content?.case !== undefined) return -1;
  if (!empty(message.name)) size += 1 + stringSize(message.name!);
  if (!empty(message.toolCallId)) size += 1 + stringSize(message.toolCallId!);
  return size;
}

// Sizes of the params' messages, computed once per request and read back while writing.
let messageSizes: number[] = [];

function paramsSize(params: ParamsInit): number {
  if (!none(params.tools) || params.toolChoice !== undefined || params.seed !== undefined || params.responseFormat !== undefined || params.extra !== undefined) return -1;
  let size = empty(params.model) ? 0 : 1 + stringSize(params.model!);
  messageSizes = [];
  for (const message of params.messages ?? []) {
    const bytes = messageSize(message);
    if (bytes < 0) return -1;
    messageSizes.push(bytes);
    size += 1 + varintSize(bytes) + bytes;
  }
  for (const value of [params.temperature, params.topP, params.presencePenalty, params.frequencyPenalty]) {
    if (value === undefined) continue;
    if (typeof value !== "number") return -1;
    size += 9;
  }
  for (const value of [params.maxTokens, params.maxCompletionTokens, params.n]) {
    if (value === undefined) continue;
    if (!isInt32(value)) return -1;
    size += 1 + varintSize(value);
  }
  for (const stop of params.stop ?? []) {
    if (typeof stop !== "string") return -1;
    size += 1 + stringSize(stop);
  }
  if (!empty(params.user)) size += 1 + stringSize(params.user!);
  // stream_options (16) has a two-byte tag; include_usage is its one field.
  if (params.streamOptions !== undefined) size += 3 + (params.streamOptions.includeUsage === true ? 2 : 0);
  return size;
}

function writeParams(out: Buffer, at: number, params: ParamsInit): number {
  at = writeStringField(out, at, 0x0a, params.model);
  const messages = params.messages ?? [];
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    out[at++] = 0x12;
    at = writeVarint(out, at, messageSizes[i]!);
    const role = message.role ?? 0;
    if (role !== 0) {
      out[at++] = 0x08;
      at = writeVarint(out, at, role);
    }
    // A oneof member is written even when empty.
    if (message.content?.case === "text") {
      out[at++] = 0x12;
      at = writeStringBody(out, at, message.content.value);
    }
    at = writeStringField(out, at, 0x22, message.name);
    at = writeStringField(out, at, 0x32, message.toolCallId);
  }
  at = writeDouble(out, at, 0x29, params.temperature);
  at = writeDouble(out, at, 0x31, params.topP);
  at = writeOptionalInt32(out, at, 0x38, params.maxTokens);
  at = writeOptionalInt32(out, at, 0x40, params.maxCompletionTokens);
  for (const stop of params.stop ?? []) {
    out[at++] = 0x4a;
    at = writeStringBody(out, at, stop);
  }
  at = writeOptionalInt32(out, at, 0x58, params.n);
  at = writeDouble(out, at, 0x61, params.presencePenalty);
  at = writeDouble(out, at, 0x69, params.frequencyPenalty);
  at = writeStringField(out, at, 0x7a, params.user);
  if (params.streamOptions !== undefined) {
    const includeUsage = params.streamOptions.includeUsage === true;
    out[at++] = 0x82;
    out[at++] = 0x01;
    out[at++] = includeUsage ? 2 : 0;
    if (includeUsage) {
      out[at++] = 0x08;
      out[at++] = 1;
    }
  }
  return at;
}

function writeDouble(out: Buffer, at: number, tag: number, value: number | undefined): number {
  if (value === undefined) return at;
  out[at++] = tag;
  return out.writeDoubleLE(value, at);
}

function writeOptionalInt32(out: Buffer, at: number, tag: number, value: number | undefined): number {
  if (value === undefined) return at;
  out[at++] = tag;
  return writeVarint(out, at, value);
}

/** Reads a ChatRequest or ChatStreamRequest: as fromBinary(schema, bytes) would, which reads what this does not. */
export function decodeChatParamsRequest<S extends RequestSchema>(schema: S, bytes: Uint8Array): S extends typeof ChatRequestSchema ? ChatRequest : ChatStreamRequest {
  return (readExpectedChatParamsRequest(schema, bytes) ?? fromBinary(schema, bytes)) as never;
}

/** The request if it is the usual kind, well formed (each scalar field once, valid UTF-8), else undefined. */
export function readExpectedChatParamsRequest(schema: RequestSchema, bytes: Uint8Array): ChatRequest | ChatStreamRequest | undefined {
  if (bytes.length === 0) return { $typeName: schema.typeName } as ChatRequest | ChatStreamRequest;
  if (bytes[0] !== 0x0a) return undefined;
  const reader = new Reader(bytes);
  reader.at = 1;
  const end = reader.length(bytes.length);
  if (end !== bytes.length) return undefined;
  const params = reader.params(end);
  if (params === undefined) return undefined;
  return { $typeName: schema.typeName, params } as ChatRequest | ChatStreamRequest;
}

type Params = NonNullable<ChatRequest["params"]>;

class Reader extends WireReader {
  params(end: number): Params | undefined {
    const params: Params = { $typeName: "iir.inference.v1.ChatParams", model: "", messages: [], tools: [], stop: [], user: "" };
    let seen = 0;
    while (this.at < end) {
      let tag = this.buffer[this.at++]!;
      if (tag === 0x82) {
        // stream_options: field 16, the only two-byte tag here.
        if (this.buffer[this.at++] !== 0x01) return undefined;
        tag = 0x82;
      } else if (tag >= 0x80) {
        return undefined;
      }
      // Repeated fields (messages, stop) may come many times; the rest once.
      if (tag !== 0x12 && tag !== 0x4a) {
        const bit = tag === 0x82 ? 1 << 16 : 1 << (tag >> 3);
        if ((seen & bit) !== 0) return undefined;
        seen |= bit;
      }
      switch (tag) {
        case 0x0a:
        case 0x4a:
        case 0x7a: {
          const value = this.string(end);
          if (value === undefined) return undefined;
          if (tag === 0x0a) params.model = value;
          else if (tag === 0x4a) params.stop.push(value);
          else params.user = value;
          break;
        }
        case 0x12: {
          const messageEnd = this.length(end);
          const message = messageEnd === undefined ? undefined : this.message(messageEnd);
          if (message === undefined) return undefined;
          params.messages.push(message);
          break;
        }
        case 0x29:
        case 0x31:
        case 0x61:
        case 0x69: {
          if (this.at + 8 > end) return undefined;
          const value = this.buffer.readDoubleLE(this.at);
          this.at += 8;
          if (tag === 0x29) params.temperature = value;
          else if (tag === 0x31) params.topP = value;
          else if (tag === 0x61) params.presencePenalty = value;
          else params.frequencyPenalty = value;
          break;
        }
        case 0x38:
        case 0x40:
        case 0x58: {
          const value = this.int32(end);
          if (value === undefined) return undefined;
          if (tag === 0x38) params.maxTokens = value;
          else if (tag === 0x40) params.maxCompletionTokens = value;
          else params.n = value;
          break;
        }
        case 0x82: {
          const optionsEnd = this.length(end);
          if (optionsEnd === undefined) return undefined;
          let includeUsage = false;
          if (this.at < optionsEnd) {
            if (this.buffer[this.at++] !== 0x08) return undefined;
            const value = this.uint32(optionsEnd);
            if (value === undefined) return undefined;
            includeUsage = value !== 0;
          }
          if (this.at !== optionsEnd) return undefined;
          params.streamOptions = { $typeName: "iir.inference.v1.StreamOptions", includeUsage };
          break;
        }
        default:
          return undefined;
      }
    }
    return this.at === end ? params : undefined;
  }

  private message(end: number): Message | undefined {
    const message: Message = { $typeName: "iir.inference.v1.Message", role: 0, content: { case: undefined }, name: "", toolCalls: [], toolCallId: "" };
    let seen = 0;
    while (this.at < end) {
      const tag = this.buffer[this.at++]!;
      if (tag >= 0x80 || (seen & (1 << (tag >> 3))) !== 0) return undefined;
      seen |= 1 << (tag >> 3);
      if (tag === 0x08) {
        const role = this.int32(end);
        if (role === undefined) return undefined;
        message.role = role;
        continue;
      }
      if (tag !== 0x12 && tag !== 0x22 && tag !== 0x32) return undefined;
      const value = this.string(end);
      if (value === undefined) return undefined;
      if (tag === 0x12) message.content = { case: "text", value };
      else if (tag === 0x22) message.name = value;
      else message.toolCallId = value;
    }
    return this.at === end ? message : undefined;
  }
}
