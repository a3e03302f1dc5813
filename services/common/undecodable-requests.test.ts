import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import test, { type ExecutionContext } from "ava";
import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { ChatResponseSchema, InferenceService } from "../../gen/iir/inference/v1/inference_pb.js";
import { callWithBytes, deepStructRequest, encodeChatRequest } from "../../test/support/raw-grpc-requests.js";
import { answerUndecodableAsInvalidArgument } from "./undecodable-requests.js";

/** A Connect server on port 0 whose Chat answers, or throws a plain Error for the model "bug"; `wrap` applies the wrapper. */
async function serve(t: ExecutionContext, wrap: boolean): Promise<grpc.Client> {
  const routes = (router: ConnectRouter) => {
    router.service(InferenceService, {
      async chat(request) {
        if (request.params?.model === "bug") throw new Error("a bug");
        return create(ChatResponseSchema, { model: request.params?.model ?? "" });
      },
      async *chatStream() {},
      async listModels() {
        return {};
      },
    });
    if (wrap) answerUndecodableAsInvalidArgument(router);
  };
  const server = http2.createServer(connectNodeAdapter({ routes }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const client = new grpc.Client(`127.0.0.1:${(server.address() as AddressInfo).port}`, grpc.credentials.createInsecure());
  t.teardown(() => {
    client.close();
    server.close();
  });
  return client;
}

const undecodable = [
  Buffer.from([0xff, 0xff, 0xff]),
  encodeChatRequest({ model: "m" }).subarray(0, 2),
  deepStructRequest("m", 1000, false),
];

test("Connect alone answers Internal for a request it cannot decode; wrapped, the same calls are InvalidArgument", async (t) => {
  const plain = await serve(t, false);
  const wrapped = await serve(t, true);
  for (const bytes of undecodable) {
    for (const method of ["Chat", "ChatStream"] as const) {
      t.is((await callWithBytes(plain, method, bytes)).code, grpc.status.INTERNAL);
      const outcome = await callWithBytes(wrapped, method, bytes);
      t.is(outcome.code, grpc.status.INVALID_ARGUMENT);
      t.regex(decodeURIComponent(outcome.details), /^parse binary: /);
    }
  }
});

test("wrapped, a request that decodes is answered as before, and a bug is still Internal", async (t) => {
  const wrapped = await serve(t, true);
  t.is((await callWithBytes(wrapped, "Chat", encodeChatRequest({ model: "m" }))).code, grpc.status.OK);
  t.is((await callWithBytes(wrapped, "Chat", encodeChatRequest({ model: "bug" }))).code, grpc.status.INTERNAL);
});
