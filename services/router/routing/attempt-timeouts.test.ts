import { getEventListeners } from "node:events";
import test from "ava";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ChatStreamResponseSchema, type ChatParams, type ChatStreamResponse } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatAdapter, ChatTarget } from "../adapters/adapter.js";
import { withAttemptTimeouts, type AttemptLimits } from "./attempt-timeouts.js";

const target: ChatTarget = { backend: "slowpoke", provider: "openai", baseUrl: "http://10.0.0.1:9/v1", apiKey: undefined, upstreamModel: "m" };
const params = {} as ChatParams;
const part = () => create(ChatStreamResponseSchema, {});

/** A stream that sends `parts` parts then waits forever, recording when its signal aborts. */
function stallingAdapter(parts: number) {
  const seen = { aborted: false };
  const adapter: ChatAdapter = {
    chat: () => new Promise(() => undefined),
    async *chatStream(_params, _target, signal): AsyncGenerator<ChatStreamResponse> {
      signal.addEventListener("abort", () => (seen.aborted = true));
      for (let index = 0; index < parts; index++) yield part();
      await new Promise(() => undefined);
    },
  };
  return { adapter, seen };
}

async function drain(adapter: ChatAdapter, limits: AttemptLimits, signal = new AbortController().signal) {
  const [timed] = withAttemptTimeouts([{ adapter, target }], limits);
  let parts = 0;
  try {
    for await (const _ of timed!.adapter.chatStream(params, target, signal)) parts += 1;
    return { parts, error: undefined };
  } catch (error) {
    return { parts, error: ConnectError.from(error) };
  }
}

test("no first part in time: DeadlineExceeded naming the backend, not its URL, and the upstream call is aborted", async (t) => {
  const { adapter, seen } = stallingAdapter(0);
  const { parts, error } = await drain(adapter, { firstTokenMs: 20, streamIdleMs: 0, deadline: undefined });
  t.is(parts, 0);
  t.is(error?.code, Code.DeadlineExceeded);
  t.regex(error!.message, /slowpoke/);
  t.notRegex(error!.message, /10\.0\.0\.1/);
  t.true(seen.aborted);
});

test("a stream that stalls after its first parts ends with an idle-timeout error", async (t) => {
  const { adapter, seen } = stallingAdapter(2);
  const { parts, error } = await drain(adapter, { firstTokenMs: 5000, streamIdleMs: 20, deadline: undefined });
  t.is(parts, 2);
  t.is(error?.code, Code.DeadlineExceeded);
  t.regex(error!.message, /stalled/);
  t.true(seen.aborted);
});

test("the request's deadline bounds unary calls too", async (t) => {
  const { adapter } = stallingAdapter(0);
  const [timed] = withAttemptTimeouts([{ adapter, target }], { firstTokenMs: 0, streamIdleMs: 0, deadline: Date.now() + 20 });
  const error = await t.throwsAsync(timed!.adapter.chat(params, target, new AbortController().signal));
  t.is(ConnectError.from(error).code, Code.DeadlineExceeded);
  t.regex(error!.message, /IIR_REQUEST_TIMEOUT/);
});

test("a stream that finishes in time passes every part; the client's cancel reaches the upstream", async (t) => {
  const finite: ChatAdapter = {
    chat: () => Promise.reject(new Error("unused")),
    async *chatStream() {
      yield part();
      yield part();
    },
  };
  t.deepEqual(await drain(finite, { firstTokenMs: 1000, streamIdleMs: 1000, deadline: Date.now() + 60_000 }), { parts: 2, error: undefined });
  const { adapter, seen } = stallingAdapter(1);
  const client = new AbortController();
  const [timed] = withAttemptTimeouts([{ adapter, target }], { firstTokenMs: 1000, streamIdleMs: 0, deadline: undefined });
  for await (const _ of timed!.adapter.chatStream(params, target, client.signal)) {
    client.abort();
    break;
  }
  t.true(seen.aborted);
});

test("with every limit off the candidates are returned as they are", (t) => {
  const { adapter } = stallingAdapter(0);
  const candidates = [{ adapter, target }];
  t.is(withAttemptTimeouts(candidates, { firstTokenMs: 0, streamIdleMs: 0, deadline: undefined }), candidates);
});

test("a long stream passes under every limit at once, and no attempt leaves a listener on the request's signal", async (t) => {
  const request = new AbortController();
  const limits: AttemptLimits = { firstTokenMs: 60_000, streamIdleMs: 60_000, deadline: Date.now() + 600_000 };
  const streaming: ChatAdapter = {
    chat: () => Promise.reject(new Error("unused")),
    async *chatStream(): AsyncGenerator<ChatStreamResponse> {
      for (let index = 0; index < 2_000; index++) yield part();
    },
  };
  const whole = await drain(streaming, limits, request.signal);
  t.deepEqual(whole, { parts: 2_000, error: undefined });
  // Attempts that end every way: finished, stopped by the consumer after one part, failed, stalled.
  const [timed] = withAttemptTimeouts([{ adapter: streaming, target }], limits);
  for (let index = 0; index < 50; index++) {
    for await (const _ of timed!.adapter.chatStream(params, target, request.signal)) break;
  }
  const failing: ChatAdapter = { chat: () => Promise.reject(new Error("unused")), chatStream: () => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new ConnectError("down", Code.Unavailable)) }) }) };
  for (let index = 0; index < 50; index++) t.is((await drain(failing, limits, request.signal)).error?.code, Code.Unavailable);
  t.is((await drain(stallingAdapter(2).adapter, { ...limits, streamIdleMs: 20 }, request.signal)).error?.code, Code.DeadlineExceeded);
  t.is(getEventListeners(request.signal, "abort").length, 0);
});

test("the request's deadline ends a stream mid-answer even while parts keep coming within the idle limit", async (t) => {
  const trickling: ChatAdapter = {
    chat: () => Promise.reject(new Error("unused")),
    async *chatStream(_params, _target, signal): AsyncGenerator<ChatStreamResponse> {
      while (!signal.aborted) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        yield part();
      }
    },
  };
  const outcome = await drain(trickling, { firstTokenMs: 60_000, streamIdleMs: 60_000, deadline: Date.now() + 200 });
  t.true(outcome.parts > 0, "parts came before the deadline");
  t.is(outcome.error?.code, Code.DeadlineExceeded);
  t.regex(outcome.error?.rawMessage ?? "", /ran out of time/);
});
