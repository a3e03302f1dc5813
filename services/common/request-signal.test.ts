import { EventEmitter, once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import test from "ava";
import { Code, ConnectError, createHandlerContext } from "@connectrpc/connect";
import { InferenceService } from "../../gen/iir/inference/v1/inference_pb.js";
import { createRequestSignal } from "./request-signal.js";

test("a request signal reads as an AbortSignal until and after it aborts", (t) => {
  const signal = createRequestSignal();
  t.true(signal instanceof AbortSignal);
  t.false(signal.aborted);
  t.is(signal.reason, undefined);
  t.notThrows(() => signal.throwIfAborted());
  const heard: string[] = [];
  signal.addEventListener("abort", () => heard.push("listener"), { once: true });
  signal.onabort = () => heard.push("onabort");
  signal.abort();
  signal.abort(new Error("too late"));
  t.deepEqual(heard, ["listener", "onabort"]);
  t.true(signal.aborted);
  t.true(signal.reason instanceof DOMException);
  t.is((signal.reason as DOMException).name, "AbortError");
  // (ava's throws() takes no DOMException, so the throw is caught here.)
  let thrown: unknown;
  try {
    signal.throwIfAborted();
  } catch (error) {
    thrown = error;
  }
  t.is(thrown, signal.reason);
});

test("a request signal keeps the reason it was aborted with, and a removed listener hears nothing", (t) => {
  const signal = createRequestSignal();
  let removedHeard = false;
  const removed = () => (removedHeard = true);
  signal.addEventListener("abort", removed);
  signal.removeEventListener("abort", removed);
  const reason = new ConnectError("the client canceled the call", Code.Canceled);
  signal.abort(reason);
  t.is(signal.reason, reason);
  t.false(removedHeard);
  t.throws(() => signal.throwIfAborted(), { is: reason });
});

test("Node's APIs that take a signal stop when a request signal aborts", async (t) => {
  const signal = createRequestSignal();
  const waiting = once(new EventEmitter(), "never", { signal });
  const sleeping = sleep(60_000, undefined, { signal });
  signal.abort();
  await t.throwsAsync(waiting, { name: "AbortError" });
  await t.throwsAsync(sleeping, { name: "AbortError" });
});

test("Connect's handler context, which links its signal to the request's, aborts with a request signal", (t) => {
  const signal = createRequestSignal();
  const context = createHandlerContext({
    service: InferenceService,
    method: InferenceService.method.chat,
    protocolName: "grpc",
    requestMethod: "POST",
    url: "/iir.inference.v1.InferenceService/Chat",
    timeoutMs: 60_000,
    requestSignal: signal,
  });
  const reason = new ConnectError("the client canceled the call", Code.Canceled);
  signal.abort(reason);
  t.true(context.signal.aborted);
  t.is(context.signal.reason, reason);
  context.abort();
});
