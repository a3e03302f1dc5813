import http2 from "node:http2";
import net from "node:net";
import test, { type ExecutionContext } from "ava";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ChatRequestSchema, ChatResponseSchema } from "../gen/iir/inference/v1/inference_pb.js";
import { grpcEnvelope } from "../services/common/grpc-envelope.js";
import { createGrpcRouterChat } from "./grpc-router-chat.js";
import { listenOnLoopback } from "../test/support/h2-test-peers.js";

// The facade's gRPC client against a node:http2 server standing in for a router that goes away
// (a rolling restart): what the router never processed is sent once more, on a new connection.
// The rest of the client's behaviour is tested through a real router in test/facade-split.test.ts.

/** A gRPC Chat server whose first `refusals` connections send GOAWAY (last stream 0) as they open. */
async function goingAwayRouter(t: ExecutionContext, refusals: number) {
  const server = http2.createServer();
  let connections = 0;
  const models: string[] = [];
  server.on("session", (session) => {
    // Before any stream arrived: nghttp2 then ignores the streams that follow.
    if (++connections <= refusals) session.goaway(http2.constants.NGHTTP2_NO_ERROR, 0);
    session.on("stream", (stream) => {
      stream.on("error", () => undefined);
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const request = fromBinary(ChatRequestSchema, Buffer.concat(chunks).subarray(5));
        models.push(request.params!.model);
        stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(grpcEnvelope(toBinary(ChatResponseSchema, create(ChatResponseSchema, { id: "answer", backend: "stand-in", model: request.params!.model }))));
      });
    });
  });
  const chat = createGrpcRouterChat((await listenOnLoopback(t, server)).href);
  t.teardown(() => chat.close());
  return { chat, models, connections: () => connections };
}

const request = { params: { model: "openai/gpt-4o-mini" } };

test("a call the router never processed (beyond its GOAWAY) is sent once more on a new connection", async (t) => {
  const router = await goingAwayRouter(t, 1);
  const answer = await router.chat.chat(request, new AbortController().signal, { "x-request-id": "r1" });
  t.is(answer.message.backend, "stand-in");
  t.deepEqual(router.models, ["openai/gpt-4o-mini"]);
  t.is(router.connections(), 2);
  // Later calls use the new connection.
  await router.chat.chat(request, new AbortController().signal, {});
  t.is(router.connections(), 2);
});

test("a call refused twice fails Unavailable instead of going round", async (t) => {
  const router = await goingAwayRouter(t, 2);
  const error = await t.throwsAsync(router.chat.chat(request, new AbortController().signal, {}), { instanceOf: ConnectError });
  t.is(error?.code, Code.Unavailable);
  t.regex(error!.message, /GOAWAY/);
  t.deepEqual(router.models, []);
});

test("request headers HTTP/2 cannot carry fail the call, not the process", async (t) => {
  const router = await goingAwayRouter(t, 0);
  await t.throwsAsync(router.chat.chat(request, new AbortController().signal, { "x-bad": "a\nb" }), { instanceOf: TypeError });
  t.is((await router.chat.chat(request, new AbortController().signal, {})).message.backend, "stand-in");
});

test("a router gone silent (no reset, no answer) fails the open call with Unavailable; the next call opens a new connection", async (t) => {
  let connections = 0;
  // Answers the client's SETTINGS with its own once, then nothing: a host gone without a reset.
  const silent = net.createServer((socket) => {
    connections++;
    socket.once("data", () => socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])));
    socket.on("error", () => undefined);
  });
  const chat = createGrpcRouterChat((await listenOnLoopback(t, silent)).href, { keepaliveMs: 100 });
  t.teardown(() => chat.close());
  const error = await t.throwsAsync(chat.chat(request, new AbortController().signal, {}), { instanceOf: ConnectError });
  t.is(error?.code, Code.Unavailable);
  t.regex(error!.message, /did not answer a PING/);
  await t.throwsAsync(chat.chat(request, new AbortController().signal, {}), { instanceOf: ConnectError });
  t.is(connections, 2);
});
