import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { ChatParamsSchema, ChatRequestSchema, Role } from "../../gen/iir/inference/v1/inference_pb.js";

/**
 * Binary ChatRequests for fuzzing the router over gRPC, including ones no protobuf library would
 * write (protobuf-es overflows the call stack encoding a Struct a thousand levels deep), and a
 * grpc-js client that sends bytes as they are.
 */

type ParamsInit = MessageInitShape<typeof ChatParamsSchema>;

/** What a call ended with: grpc-js's status code and message (OK is 0). */
export interface GrpcOutcome {
  readonly code: grpc.status;
  readonly details: string;
}

/** A ChatRequest's bytes as protobuf-es writes them. */
export function encodeChatRequest(params: ParamsInit): Buffer {
  return Buffer.from(toBinary(ChatRequestSchema, create(ChatRequestSchema, { params })));
}

/**
 * A ChatRequest whose `params.extra` (or, with `inMessage`, `params.messages[0].extra`) is a Struct
 * nested `levels` deep: `{"a":{"a":…{}}}`, written by hand, inside out, in one buffer.
 */
export function deepStructRequest(model: string, levels: number, inMessage: boolean): Buffer {
  const struct = deepStruct(levels);
  if (inMessage) {
    const message = concat([[0x08, Role.USER, 0x12, 0x02, 0x68, 0x69], fieldHeader(7, struct.length), struct]);
    const params = concat([encodeParams({ model, maxTokens: 1 }), fieldHeader(2, message.length), message]);
    return concat([fieldHeader(1, params.length), params]);
  }
  const params = concat([encodeParams({ model, maxTokens: 1, messages: [{ role: Role.USER, content: { case: "text", value: "hi" } }] }), fieldHeader(17, struct.length), struct]);
  return concat([fieldHeader(1, params.length), params]);
}

/** A ChatRequest whose model is not UTF-8. */
export function invalidUtf8ModelRequest(): Buffer {
  const model = [0x0a, 0x04, 0xff, 0xfe, 0xc3, 0x28];
  const params = concat([model, encodeParams({ messages: [{ role: Role.USER, content: { case: "text", value: "hi" } }] })]);
  return concat([fieldHeader(1, params.length), params]);
}

function encodeParams(params: ParamsInit): Buffer {
  return Buffer.from(toBinary(ChatParamsSchema, create(ChatParamsSchema, params)));
}

function deepStruct(levels: number): Buffer {
  // Sizes inside out: a Struct holds one entry "a" whose Value holds the next Struct (field 5).
  const structSizes = [0];
  const valueSizes = [0];
  const entrySizes = [0];
  for (let level = 1; level < levels; level++) {
    const inner = structSizes[level - 1]!;
    const value = 1 + varintLength(inner) + inner;
    const entry = 3 + 1 + varintLength(value) + value;
    valueSizes.push(value);
    entrySizes.push(entry);
    structSizes.push(1 + varintLength(entry) + entry);
  }
  const out = Buffer.alloc(structSizes[levels - 1]!);
  let at = 0;
  const write = (bytes: readonly number[]) => {
    for (const byte of bytes) out[at++] = byte;
  };
  for (let level = levels - 1; level >= 1; level--) {
    write([0x0a, ...varint(entrySizes[level]!), 0x0a, 0x01, 0x61, 0x12, ...varint(valueSizes[level]!), 0x2a, ...varint(structSizes[level - 1]!)]);
  }
  return out;
}

function fieldHeader(field: number, length: number): number[] {
  return [...varint((field << 3) | 2), ...varint(length)];
}

function varint(value: number): number[] {
  const bytes: number[] = [];
  while (value > 0x7f) {
    bytes.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return bytes;
}

function varintLength(value: number): number {
  return varint(value).length;
}

function concat(parts: readonly (Buffer | readonly number[])[]): Buffer {
  return Buffer.concat(parts.map((part) => (Buffer.isBuffer(part) ? part : Buffer.from(part))));
}

const identity = (bytes: Buffer) => bytes;

/** Sends `bytes` as the request of Chat (unary) or ChatStream (reading every response); resolves with how the call ended. */
export function callWithBytes(client: grpc.Client, method: "Chat" | "ChatStream", bytes: Buffer): Promise<GrpcOutcome> {
  const path = `/iir.inference.v1.InferenceService/${method}`;
  return new Promise((resolve) => {
    if (method === "Chat") {
      client.makeUnaryRequest(path, identity, identity, bytes, (error) => resolve(error ? { code: error.code, details: error.details } : { code: grpc.status.OK, details: "" }));
      return;
    }
    const call = client.makeServerStreamRequest(path, identity, identity, bytes);
    call.on("data", () => undefined);
    call.on("error", () => undefined);
    call.on("status", (status: grpc.StatusObject) => resolve({ code: status.code, details: status.details }));
  });
}
