import http2 from "node:http2";
import net from "node:net";
import { once } from "node:events";
import test, { type ExecutionContext } from "ava";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ChatRequestSchema,
  ChatResponseSchema,
  ChatStreamRequestSchema,
  ChatStreamResponseSchema,
  InferenceService,
  ListModelsRequestSchema,
  Role,
  type ChatParams,
} from "../../../gen/iir/inference/v1/inference_pb.js";
import { listenConnect, type ConnectServer } from "../connect-server.js";
import { grpcEnvelope } from "../grpc-envelope.js";
import { H2ClientConnection } from "./h2-client-connection.js";
import { encodeHeaderBlock } from "./hpack.js";
import { iirClientSetting, isIirClientPreface } from "./h2-server-connection.js";
import { exchange, rawFrame } from "../../../test/support/h2-test-peers.js";

// The router's own HTTP/2 server for IIR's client: served through listenConnect's sniffing, as the
// router serves it, with a small InferenceService of the test's own behind the gRPC fast path.

const chatPath = "/iir.inference.v1.InferenceService/Chat";
const chatStreamPath = "/iir.inference.v1.InferenceService/ChatStream";
const marker = { customSettings: { [iirClientSetting]: 1 } };

interface Served {
  port: number;
  server: ConnectServer;
  /** Stream calls whose handler saw its signal abort. */
  aborted: number;
  /** Calls whose handler ran. */
  calls: number;
  /** Holds "wait" streams until released. */
  release(): void;
}

const textOf = (params: ChatParams | undefined) => {
  const content = params?.messages.at(-1)?.content;
  return content?.case === "text" ? content.value : "";
};

/** A server whose Chat echoes the last message and whose ChatStream sends it back a word per part ("wait …": after release()). */
async function serve(t: ExecutionContext, readMaxBytes?: number): Promise<Served> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const served = { aborted: 0, calls: 0, release } as Served;
  const impl: Partial<ServiceImpl<typeof InferenceService>> = {
    async chat(request) {
      served.calls++;
      return create(ChatResponseSchema, { id: "x", choices: [{ message: { role: Role.ASSISTANT, content: { case: "text", value: `echo: ${textOf(request.params)}` } } }] });
    },
    async *chatStream(request, context) {
      context.signal.addEventListener("abort", () => served.aborted++);
      const words = textOf(request.params).split(" ");
      if (words[0] === "wait") {
        yield { event: { case: "text", value: { text: "first" } } };
        await Promise.race([released, new Promise((resolve) => context.signal.addEventListener("abort", resolve))]);
      }
      for (const word of words) yield { event: { case: "text", value: { text: word } } };
    },
    async listModels() {
      return {};
    },
  };
  const server = await listenConnect({
    routes: (router) => router.service(InferenceService, impl),
    host: "127.0.0.1",
    port: 0,
    fastMethods: [InferenceService.method.chat, InferenceService.method.chatStream],
    readMaxBytes,
  });
  t.teardown(() => server.close(0));
  return Object.assign(served, { port: server.port, server });
}

const request = (text: string) => grpcEnvelope(toBinary(ChatRequestSchema, create(ChatRequestSchema, { params: { model: "m", messages: [{ role: Role.USER, content: { case: "text", value: text } }] } })));
const streamRequest = (text: string) =>
  grpcEnvelope(toBinary(ChatStreamRequestSchema, create(ChatStreamRequestSchema, { params: { model: "m", messages: [{ role: Role.USER, content: { case: "text", value: text } }] } })));

function session(t: ExecutionContext, port: number, settings: http2.Settings = marker): http2.ClientHttp2Session {
  const client = http2.connect(`http://127.0.0.1:${port}`, { settings });
  client.on("error", () => undefined);
  t.teardown(() => client.destroy());
  return client;
}

interface Answer {
  headers: http2.IncomingHttpHeaders;
  messages: Buffer[];
  trailers: http2.IncomingHttpHeaders;
}

/** One gRPC call: the response headers, the messages and the trailers (or, for a trailers-only answer, the headers again). */
function call(client: http2.ClientHttp2Session, path: string, body: Buffer, onMessage?: (stream: http2.ClientHttp2Stream) => void): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = client.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    let body_ = Buffer.alloc(0);
    stream.on("response", (received) => (headers = received));
    stream.on("trailers", (received) => (trailers = received));
    stream.on("data", (chunk: Buffer) => {
      body_ = Buffer.concat([body_, chunk]);
      onMessage?.(stream);
    });
    stream.on("error", reject);
    stream.on("close", () => {
      const messages: Buffer[] = [];
      for (let at = 0; at + 5 <= body_.length; at += 5 + body_.readUInt32BE(at + 1)) messages.push(body_.subarray(at + 5, at + 5 + body_.readUInt32BE(at + 1)));
      resolve({ headers, messages, trailers: trailers ?? headers });
    });
    stream.end(body);
  });
}

const streamedText = (answer: Answer) =>
  answer.messages.map((message) => {
    const event = fromBinary(ChatStreamResponseSchema, message).event;
    return event.case === "text" ? event.value.text : "";
  });

test("the preface is told apart: IIR's client marks its SETTINGS; others, partial prefaces and HTTP/1.1 are not", (t) => {
  const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
  const settings = (pairs: [number, number][]) => {
    const payload = Buffer.alloc(pairs.length * 6);
    pairs.forEach(([id, value], i) => {
      payload.writeUInt16BE(id, i * 6);
      payload.writeUInt32BE(value, i * 6 + 2);
    });
    return rawFrame(4, 0, 0, payload);
  };
  const marked = Buffer.concat([preface, settings([[2, 0], [iirClientSetting, 1]])]);
  t.true(isIirClientPreface(marked));
  t.true(isIirClientPreface(Buffer.concat([marked, rawFrame(8, 0, 0, Buffer.alloc(4))])));
  for (let cut = 0; cut < marked.length; cut += 7) t.is(isIirClientPreface(marked.subarray(0, cut)), undefined, `${cut} bytes`);
  t.false(isIirClientPreface(Buffer.concat([preface, settings([[iirClientSetting, 2]])])));
  t.false(isIirClientPreface(Buffer.concat([preface, settings([[3, 100]])])));
  t.false(isIirClientPreface(Buffer.concat([preface, rawFrame(8, 0, 0, Buffer.alloc(4))])));
  t.false(isIirClientPreface(Buffer.from("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n")));
});

test("a marked connection's Chat and ChatStream are served; other methods there are UNIMPLEMENTED, and an unmarked connection serves them", async (t) => {
  const { port } = await serve(t);
  const marked = session(t, port);
  const chat = await call(marked, chatPath, request("hello there"));
  t.is(Number(chat.headers[":status"]), 200);
  t.is(chat.headers["content-type"], "application/grpc+proto");
  t.is(chat.trailers["grpc-status"], "0");
  const answer = fromBinary(ChatResponseSchema, chat.messages[0]!).choices[0]?.message?.content;
  t.deepEqual(answer, { case: "text", value: "echo: hello there" });

  const stream = await call(marked, chatStreamPath, streamRequest("one two three"));
  t.deepEqual(streamedText(stream), ["one", "two", "three"]);
  t.is(stream.trailers["grpc-status"], "0");

  const listPath = "/iir.inference.v1.InferenceService/ListModels";
  const list = grpcEnvelope(toBinary(ListModelsRequestSchema, create(ListModelsRequestSchema)));
  const refused = await call(marked, listPath, list);
  t.is(refused.headers["grpc-status"], "12");
  t.regex(decodeURIComponent(String(refused.headers["grpc-message"])), /ListModels .* is not served on this connection/);
  t.is((await call(marked, chatPath, request("still here"))).trailers["grpc-status"], "0");

  const plain = session(t, port, {});
  t.is((await call(plain, listPath, list)).trailers["grpc-status"], "0");
  t.is((await call(plain, chatPath, request("plain"))).trailers["grpc-status"], "0");
});

test("flow control both ways: a client window of 64 bytes still gets every part; a body past the server's stream window arrives whole", async (t) => {
  const { port } = await serve(t);
  const small = session(t, port, { ...marker, initialWindowSize: 64 });
  const words = Array.from({ length: 300 }, (_, i) => `word${i}`);
  const stream = await call(small, chatStreamPath, streamRequest(words.join(" ")));
  t.deepEqual(streamedText(stream), words);
  t.is(stream.trailers["grpc-status"], "0");

  const large = "x".repeat(1_500_000);
  const chat = await call(session(t, port), chatPath, request(large));
  t.is(chat.trailers["grpc-status"], "0");
  const content = fromBinary(ChatResponseSchema, Buffer.concat(chat.messages)).choices[0]?.message?.content;
  t.is(content?.case === "text" ? content.value.length : 0, large.length + "echo: ".length);
});

test("a request over readMaxBytes is RESOURCE_EXHAUSTED, a header HTTP forbids is INVALID_ARGUMENT; the connection keeps serving", async (t) => {
  const { port } = await serve(t, 1000);
  const url = new URL(`http://127.0.0.1:${port}`);
  const connection = new H2ClientConnection(url, { settings: [[iirClientSetting, 1]] });
  t.teardown(() => connection.destroy());
  const fields = encodeHeaderBlock([[":method", "POST"], [":scheme", "http"], [":path", chatPath], [":authority", url.host], ["content-type", "application/grpc"]]);
  const statusOf = async (block: Buffer, body: Buffer) => {
    const answer = exchange(connection, block, body);
    t.is(await answer.closed, undefined);
    const last = answer.blocks.at(-1)!;
    t.true(last.endStream);
    return Object.fromEntries(last.fields)["grpc-status"];
  };
  t.is(await statusOf(fields, request("y".repeat(2000))), "8");
  // A literal field with a new name "Bad Name", which no HTTP version allows.
  const badName = Buffer.concat([Buffer.from([0x00, 8]), Buffer.from("Bad Name"), Buffer.from([1]), Buffer.from("v")]);
  t.is(await statusOf(Buffer.concat([fields, badName]), request("fine")), "3");
  t.is(await statusOf(fields, request("fine")), "0");
});

test("a reset stream cancels its call", async (t) => {
  const served = await serve(t);
  const client = session(t, served.port);
  const stream = client.request({ ":method": "POST", ":path": chatStreamPath, "content-type": "application/grpc", te: "trailers" });
  stream.on("error", () => undefined);
  stream.end(streamRequest("wait for it"));
  await once(stream, "data");
  stream.close(http2.constants.NGHTTP2_CANCEL);
  const deadline = Date.now() + 2000;
  while (served.aborted === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  t.is(served.aborted, 1);
  t.is((await call(client, chatPath, request("next"))).trailers["grpc-status"], "0");
});

test("a frame the protocol forbids ends the connection with GOAWAY PROTOCOL_ERROR; the server takes new ones", async (t) => {
  const { port } = await serve(t);
  const socket = net.connect(port, "127.0.0.1");
  t.teardown(() => socket.destroy());
  const payload = Buffer.alloc(6);
  payload.writeUInt16BE(iirClientSetting, 0);
  payload.writeUInt32BE(1, 2);
  socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"), rawFrame(4, 0, 0, payload), rawFrame(0, 0, 0, Buffer.from("data on stream 0"))]));
  let received = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
  await once(socket, "close");
  let goaway: Buffer | undefined;
  for (let at = 0; at + 9 <= received.length; at += 9 + received.readUIntBE(at, 3)) if (received[at + 3] === 7) goaway = received.subarray(at + 9, at + 9 + received.readUIntBE(at, 3));
  t.is(goaway?.readUInt32BE(4), 1);
  t.regex(goaway?.subarray(8).toString() ?? "", /DATA on stream 0/);
  t.is((await call(session(t, port), chatPath, request("after"))).trailers["grpc-status"], "0");
});

test("closing the server: GOAWAY, the open call finishes, and the close waits for it", async (t) => {
  const served = await serve(t);
  const client = session(t, served.port);
  let goaway = false;
  client.on("goaway", () => (goaway = true));
  const answer = call(client, chatStreamPath, streamRequest("wait and finish"), () => {
    if (!closing) closing = served.server.close(5000);
  });
  let closing: Promise<void> | undefined;
  while (closing === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.true(goaway);
  served.release();
  const finished = await answer;
  t.deepEqual(streamedText(finished), ["first", "wait", "and", "finish"]);
  t.is(finished.trailers["grpc-status"], "0");
  await closing;
});

/** A raw marked connection: the preface, SETTINGS with the marker, then `frames`; resolves with every frame the server sent until it closed. */
async function rawExchange(t: ExecutionContext, port: number, frames: Buffer[], readLater = false): Promise<{ type: number; flags: number; streamId: number; payload: Buffer }[]> {
  const socket = net.connect(port, "127.0.0.1");
  t.teardown(() => socket.destroy());
  const payload = Buffer.alloc(6);
  payload.writeUInt16BE(iirClientSetting, 0);
  payload.writeUInt32BE(1, 2);
  const chunks: Buffer[] = [];
  if (readLater) socket.pause();
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  socket.on("error", () => undefined);
  socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"), rawFrame(4, 0, 0, payload)]));
  for (const frame of frames) if (!socket.write(frame)) await once(socket, "drain");
  if (readLater) socket.resume();
  await once(socket, "close");
  const received = Buffer.concat(chunks);
  const parsed = [];
  for (let at = 0; at + 9 <= received.length; at += 9 + received.readUIntBE(at, 3)) {
    parsed.push({ type: received[at + 3]!, flags: received[at + 4]!, streamId: received.readUInt32BE(at + 5), payload: received.subarray(at + 9, at + 9 + received.readUIntBE(at, 3)) });
  }
  return parsed;
}

const goawayCode = (frames: { type: number; payload: Buffer }[]) => frames.find((frame) => frame.type === 7)?.payload.readUInt32BE(4);

test("what a client may not flood the server with: empty CONTINUATION frames, unread answers, streams reset at once", async (t) => {
  const served = await serve(t);
  const url = new URL(`http://127.0.0.1:${served.port}`);
  const fields = encodeHeaderBlock([[":method", "POST"], [":scheme", "http"], [":path", chatPath], [":authority", url.host], ["content-type", "application/grpc"]]);
  // A header block that never ends, in empty CONTINUATION frames: refused once their heads add up to the block limit.
  const endless = [rawFrame(1, 0, 1, fields), ...Array.from({ length: 40_000 }, () => rawFrame(9, 0, 1, Buffer.alloc(0)))];
  t.is(goawayCode(await rawExchange(t, served.port, [Buffer.concat(endless)])), 0xb);

  // PINGs from a client that reads none of the answers: given up once 16 MB of them wait.
  const ping = rawFrame(6, 0, 0, Buffer.alloc(8));
  const pings = Buffer.concat(Array.from({ length: 8192 }, () => ping));
  t.is(goawayCode(await rawExchange(t, served.port, Array.from({ length: 130 }, () => pings), true)), 0xb);

  // Streams opened with their whole request and reset in the same write: no handler runs for them.
  const rst = Buffer.alloc(4);
  rst.writeUInt32BE(8, 0);
  const resets: Buffer[] = [];
  for (let id = 1; id < 400; id += 2) resets.push(rawFrame(1, 4, id, fields), rawFrame(0, 1, id, request("x")), rawFrame(3, 0, id, rst));
  const socket = net.connect(served.port, "127.0.0.1");
  t.teardown(() => socket.destroy());
  socket.on("error", () => undefined);
  const marker6 = Buffer.alloc(6);
  marker6.writeUInt16BE(iirClientSetting, 0);
  marker6.writeUInt32BE(1, 2);
  socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"), rawFrame(4, 0, 0, marker6), ...resets]));
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(served.calls, 0);
  t.is((await call(session(t, served.port), chatPath, request("after"))).trailers["grpc-status"], "0");
  t.is(served.calls, 1);
});

test("a deadline passes while the server waits for the request's body: DEADLINE_EXCEEDED", async (t) => {
  const { port } = await serve(t);
  const client = session(t, port);
  const stream = client.request({ ":method": "POST", ":path": chatPath, "content-type": "application/grpc", "grpc-timeout": "100m", te: "trailers" });
  stream.write(request("never ends").subarray(0, 3));
  let status: string | undefined;
  stream.on("trailers", (trailers) => (status = String(trailers["grpc-status"])));
  stream.on("response", (headers) => (status ??= headers["grpc-status"] === undefined ? undefined : String(headers["grpc-status"])));
  stream.on("error", () => undefined);
  stream.resume();
  await once(stream, "close");
  t.is(status, "4");
});
