import http2 from "node:http2";
import test, { type ExecutionContext } from "ava";
import * as grpc from "@grpc/grpc-js";
import { call, clients } from "./support/grpc-js-clients.js";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { startTestRouter } from "./support/router-fixture.js";

// The router serves Chat and ChatStream in binary, uncompressed gRPC on its own direct path
// (services/common/grpc-fast-path.ts) and everything else through Connect. These check that the
// direct path keeps the contract a gRPC client relies on.

let upstream: FakeUpstream;

test.before(async () => {
  upstream = await startFakeUpstream();
});

test.after.always(async () => {
  await upstream?.close();
});

async function router(t: ExecutionContext): Promise<string> {
  const { port } = await startTestRouter(t, { OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-test", CACHE_TTL: "0" });
  return `127.0.0.1:${port}`;
}

const chatParams = (model: string, text: string) => ({ params: { model, messages: [{ role: "ROLE_USER", text }] } });

/** The text of a Chat answer's first choice. */
const answerText = (answer: Record<string, unknown>) => ((answer.choices as Array<{ message?: { text?: string } }>)[0]?.message?.text);

/** A grpc-js server stream's messages, response metadata and final status. */
function readStream(stream: grpc.ClientReadableStream<Record<string, unknown>>) {
  const messages: Array<Record<string, unknown>> = [];
  let header: grpc.Metadata | undefined;
  stream.on("metadata", (metadata) => (header = metadata));
  stream.on("data", (message: Record<string, unknown>) => messages.push(message));
  return new Promise<{ messages: typeof messages; header?: grpc.Metadata; status: grpc.StatusObject }>((resolve) => {
    stream.on("error", () => undefined);
    stream.on("status", (status) => resolve({ messages, header, status }));
  });
}

test("Chat and ChatStream over grpc-js: answers, the model label in the headers, the backend wait in the trailers", async (t) => {
  const { inference } = clients(t, await router(t));
  const answer = await call(inference, "chat", chatParams("openai/gpt-4o-mini", "direct path"));
  t.is(answerText(answer), "echo: direct path");
  t.like((answer.choices as Array<Record<string, unknown>>)[0], { finishReason: "FINISH_REASON_STOP" });

  const streamed = await readStream((inference.chatStream as (request: object) => grpc.ClientReadableStream<Record<string, unknown>>).call(inference, chatParams("openai/gpt-4o-mini", "two words")));
  t.is(streamed.status.code, grpc.status.OK);
  const text = streamed.messages.map((message) => (message.text as { text?: string } | undefined)?.text ?? "").join("");
  t.is(text, "echo: two words");
  t.deepEqual(streamed.header?.get("iir-model-label"), ["other"]);
  t.true(Number(streamed.status.metadata.get("iir-backend-ms")[0]) >= 0, "the backend wait travels as a trailer");
});

test("a client's metadata reaches the handler: Cache-Control in it steers the router's cache", async (t) => {
  const { port } = await startTestRouter(t, { OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-test", CACHE_TTL: "60" });
  const { inference } = clients(t, `127.0.0.1:${port}`);
  const unary = inference.chat as (request: object, metadata: grpc.Metadata, callback: (error: grpc.ServiceError | null) => void) => grpc.ClientUnaryCall;
  // What the router's cache did with one Chat call, from the `iir-cache` response header.
  const cacheResult = (cacheControl?: string) =>
    new Promise<string | undefined>((resolve, reject) => {
      const metadata = new grpc.Metadata();
      if (cacheControl !== undefined) metadata.set("cache-control", cacheControl);
      let result: string | undefined;
      const running = unary.call(inference, chatParams("openai/gpt-4o-mini", `metadata ${port}`), metadata, (error) => (error ? reject(error) : resolve(result)));
      running.on("metadata", (header: grpc.Metadata) => (result = header.get("iir-cache")[0] as string | undefined));
    });
  t.is(await cacheResult(), "miss");
  t.is(await cacheResult(), "hit");
  t.is(await cacheResult("no-cache"), "miss", "no-cache skips the lookup");
  t.is(await cacheResult("no-store"), "bypass", "no-store skips lookup and store");
});

test("an error before the first part is a gRPC status with the upstream's details, and the router keeps serving", async (t) => {
  const { inference } = clients(t, await router(t));
  const streamed = await readStream((inference.chatStream as (request: object) => grpc.ClientReadableStream<Record<string, unknown>>).call(inference, chatParams("openai/fail-429", "x")));
  t.is(streamed.status.code, grpc.status.RESOURCE_EXHAUSTED);
  t.is(streamed.messages.length, 0);
  t.deepEqual(streamed.status.metadata.get("retry-after"), ["7"], "the provider's Retry-After reaches the caller");
  const answer = await call(inference, "chat", chatParams("openai/gpt-4o-mini", "still here"));
  t.is(answerText(answer), "echo: still here");
});

test("a grpc-timeout shorter than the upstream's answer ends the call DEADLINE_EXCEEDED and closes the upstream request", async (t) => {
  const { inference } = clients(t, await router(t));
  const closed = upstream.whenClosedByClient();
  const unary = inference.chat as (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null) => void) => void;
  const error = await new Promise<grpc.ServiceError | null>((resolve) =>
    unary.call(inference, chatParams("openai/hang", "x"), new grpc.Metadata(), { deadline: Date.now() + 300 }, resolve),
  );
  t.is(error?.code, grpc.status.DEADLINE_EXCEEDED);
  await closed;
  t.pass("the upstream saw the request closed");
});

test("cancelling a ChatStream mid-answer closes the upstream request", async (t) => {
  const { inference } = clients(t, await router(t));
  const closed = upstream.whenClosedByClient();
  const stream = (inference.chatStream as (request: object) => grpc.ClientReadableStream<Record<string, unknown>>).call(inference, chatParams("openai/hang-mid-stream", "x"));
  const status = readStream(stream);
  await new Promise((resolve) => stream.once("data", resolve));
  stream.cancel();
  t.is((await status).status.code, grpc.status.CANCELLED);
  await closed;
  t.pass("the upstream saw the request closed");
});

test("a compressed call goes to Connect's handler and is answered the same", async (t) => {
  const { inference } = clients(t, await router(t), { "grpc.default_compression_algorithm": grpc.compressionAlgorithms.gzip });
  const answer = await call(inference, "chat", chatParams("openai/gpt-4o-mini", "gzip"));
  t.is(answerText(answer), "echo: gzip");
});

test("a body that is not one whole message is INVALID_ARGUMENT, not a crash", async (t) => {
  const address = await router(t);
  const session = http2.connect(`http://${address}`);
  t.teardown(() => session.close());
  const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
    const stream = session.request({ ":method": "POST", ":path": "/iir.inference.v1.InferenceService/Chat", "content-type": "application/grpc", te: "trailers" });
    stream.on("trailers", resolve);
    stream.on("error", reject);
    stream.resume();
    // Says 10 bytes follow, sends 2.
    stream.end(Buffer.from([0, 0, 0, 0, 10, 1, 2]));
  });
  t.is(trailers["grpc-status"], String(grpc.status.INVALID_ARGUMENT));
  const { inference } = clients(t, address);
  const answer = await call(inference, "chat", chatParams("openai/gpt-4o-mini", "after garbage"));
  t.is(answerText(answer), "echo: after garbage");
});

test("a request message over IIR_MAX_BODY is RESOURCE_EXHAUSTED on every path, and the router keeps serving", async (t) => {
  const { port } = await startTestRouter(t, { OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-test", CACHE_TTL: "0", IIR_MAX_BODY: "2kb" });
  const plain = clients(t, `127.0.0.1:${port}`);
  // The direct path (uncompressed Chat), Connect's handler (gzip), and a stream.
  const gzip = clients(t, `127.0.0.1:${port}`, { "grpc.default_compression_algorithm": grpc.compressionAlgorithms.gzip });
  const large = chatParams("openai/gpt-4o-mini", "x".repeat(4096));
  const refused = await t.throwsAsync(call(plain.inference, "chat", large));
  t.is((refused as unknown as grpc.ServiceError).code, grpc.status.RESOURCE_EXHAUSTED);
  // Incompressible text, so that gzip does not bring it under the limit.
  const random = chatParams("openai/gpt-4o-mini", Array.from({ length: 4096 }, () => String.fromCharCode(33 + Math.floor(Math.random() * 90))).join(""));
  const refusedGzip = await t.throwsAsync(call(gzip.inference, "chat", random));
  t.is((refusedGzip as unknown as grpc.ServiceError).code, grpc.status.RESOURCE_EXHAUSTED);
  const streamed = await readStream((plain.inference.chatStream as (request: object) => grpc.ClientReadableStream<Record<string, unknown>>).call(plain.inference, large));
  t.is(streamed.status.code, grpc.status.RESOURCE_EXHAUSTED);
  const answer = await call(plain.inference, "chat", chatParams("openai/gpt-4o-mini", "small"));
  t.is(answerText(answer), "echo: small");
});
