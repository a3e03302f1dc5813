import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import * as grpc from "@grpc/grpc-js";
import { ChatParamsSchema, ChatRequestSchema, Role } from "../../gen/iir/inference/v1/inference_pb.js";

/**
 * Binary ChatRequests for fuzzing the router over gRPC, including ones protobuf-es's message
 * encoder cannot write (it overflows the call stack encoding a Struct a thousand levels deep), and a
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
 * nested `levels` deep: `{"a":{"a":…{}}}`. Built with protobuf-es's own BinaryWriter, since its
 * message encoder recurses and overflows the call stack at such depths.
 */
export function deepStructRequest(model: string, levels: number, inMessage: boolean): Buffer {
  const struct = deepStruct(levels);
  const writer = new BinaryWriter().tag(1, WireType.LengthDelimited).fork();
  if (inMessage) {
    writer.raw(encodeParams({ model, maxTokens: 1 }));
    writer.tag(2, WireType.LengthDelimited).fork().tag(1, WireType.Varint).int32(Role.USER).tag(2, WireType.LengthDelimited).string("hi");
    writer.tag(7, WireType.LengthDelimited).bytes(struct).join();
  } else {
    writer.raw(encodeParams({ model, maxTokens: 1, messages: [{ role: Role.USER, content: { case: "text", value: "hi" } }] }));
    writer.tag(17, WireType.LengthDelimited).bytes(struct);
  }
  return Buffer.from(writer.join().finish());
}

/**
 * A Struct `levels` deep, each level one entry "a" (fields, 1) whose Value holds the next Struct
 * (struct_value, 5). Each level's framing is written on its own, inside out, and the levels are
 * laid down outside in once, so the cost stays linear in the depth.
 */
function deepStruct(levels: number): Uint8Array {
  const framings: Uint8Array[] = [];
  let inner = 0;
  for (let level = 1; level < levels; level++) {
    const valueFraming = new BinaryWriter().tag(5, WireType.LengthDelimited).uint32(inner).finish();
    const entryFraming = new BinaryWriter().tag(1, WireType.LengthDelimited).string("a").tag(2, WireType.LengthDelimited).uint32(valueFraming.length + inner).raw(valueFraming).finish();
    const framing = new BinaryWriter().tag(1, WireType.LengthDelimited).uint32(entryFraming.length + inner).raw(entryFraming).finish();
    framings.push(framing);
    inner += framing.length;
  }
  const out = new Uint8Array(inner);
  let at = 0;
  for (let index = framings.length - 1; index >= 0; index--) {
    out.set(framings[index]!, at);
    at += framings[index]!.length;
  }
  return out;
}

/** A ChatRequest whose model is not UTF-8. */
export function invalidUtf8ModelRequest(): Buffer {
  const writer = new BinaryWriter().tag(1, WireType.LengthDelimited).fork();
  writer.tag(1, WireType.LengthDelimited).bytes(Uint8Array.of(0xff, 0xfe, 0xc3, 0x28));
  writer.raw(encodeParams({ messages: [{ role: Role.USER, content: { case: "text", value: "hi" } }] }));
  return Buffer.from(writer.join().finish());
}

function encodeParams(params: ParamsInit): Uint8Array {
  return toBinary(ChatParamsSchema, create(ChatParamsSchema, params));
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
