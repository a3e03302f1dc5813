import test, { type ExecutionContext } from "ava";
import { Code, ConnectError, createClient, type ConnectRouter, type ServiceImpl, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { InferenceService, Role } from "../../../gen/iir/inference/v1/inference_pb.js";
import { loadConfig } from "../../common/config.js";
import { listenConnect } from "../../common/connect-server.js";
import { findGatewayError } from "../../common/errors.js";
import { createInProcessTransport } from "../../common/in-process-transport.js";
import { createConcurrencyLimiter, type ConcurrencyLimiter } from "../rate-limit/concurrency-limiter.js";
import { createMemoryRateLimitStore } from "../rate-limit/memory-rate-limit-store.js";
import { createApiKeyPolicy } from "./api-key-policy.js";
import type { ActiveApiKey } from "./api-key-store.js";

// The policy's slots for calls in flight, around an InferenceService that ignores its signal: a
// stream's slot must come back however the stream ends, by the caller's return() at the latest.

const key: ActiveApiKey = { id: "key-id", name: "team", rpm: 2, tpm: undefined, maxConcurrent: 1 };
const headers = { authorization: "Bearer iir-any" };
const params = { model: "m", messages: [{ role: Role.USER, content: { case: "text" as const, value: "hi" } }] };

interface Stub {
  readonly concurrency: ConcurrencyLimiter;
  readonly routes: (router: ConnectRouter) => void;
  readonly policy: ReturnType<typeof createApiKeyPolicy>;
  /** Streams whose generator was closed (its `finally` ran). */
  readonly closed: { count: number };
}

/** A stream of parts every few ms forever, deaf to its signal; "fail" streams and unary calls fail. */
function createStub(t: ExecutionContext): Stub {
  const concurrency = createConcurrencyLimiter();
  const rateLimits = createMemoryRateLimitStore();
  t.teardown(() => rateLimits.close());
  const closed = { count: 0 };
  const service: Partial<ServiceImpl<typeof InferenceService>> = {
    async *chatStream(request) {
      if (request.params?.model === "fail") throw new ConnectError("backend down", Code.Unavailable);
      try {
        for (;;) {
          yield { event: { case: "text", value: { text: "tick" } } };
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      } finally {
        closed.count += 1;
      }
    },
    async chat() {
      throw new ConnectError("backend down", Code.Unavailable);
    },
  };
  const policy = createApiKeyPolicy({ keys: { find: () => key, anyKeys: () => true }, requireAuth: true, rateLimits, defaults: {}, concurrency });
  return { concurrency, routes: (router) => void router.service(InferenceService, service), policy, closed };
}

async function* single<T>(value: T): AsyncIterable<T> {
  yield value;
}

function openStream(transport: Transport, signal?: AbortSignal, model = "m") {
  return transport.stream(InferenceService.method.chatStream, signal, undefined, headers, single({ params: { ...params, model } }), undefined);
}

async function eventually(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test("in process: a caller that stops reading (return(), as the facade does when its client left) frees the slot", async (t) => {
  const stub = createStub(t);
  const transport = createInProcessTransport(stub.routes, { interceptors: [stub.policy] });
  const parts = (await openStream(transport)).message[Symbol.asyncIterator]();
  t.false((await parts.next()).done);
  t.is(stub.concurrency.inFlight(key.id), 1);
  const refused = ConnectError.from(await t.throwsAsync(openStream(transport)));
  t.is(refused.code, Code.ResourceExhausted);
  t.like(findGatewayError(refused), { httpStatus: 429, type: "requests", code: "concurrency_limit_exceeded" });
  t.is(refused.metadata.get("retry-after"), "1");
  t.is(refused.metadata.get("x-ratelimit-remaining-requests"), null, "a refusal for want of a slot spends nothing of the minute's budget");

  await parts.return?.();
  t.is(stub.concurrency.inFlight(key.id), 0);
  t.is(stub.closed.count, 1, "the handler's stream was closed");
  await parts.return?.();
  t.is(stub.concurrency.inFlight(key.id), 0, "a second return() releases nothing more");
  const again = (await openStream(transport)).message[Symbol.asyncIterator]();
  await again.next();
  await again.return?.();
  t.is(stub.concurrency.inFlight(key.id), 0);
  const overBudget = ConnectError.from(await t.throwsAsync(openStream(transport)));
  t.like(findGatewayError(overBudget), { code: "rate_limit_exceeded" }, "two admitted calls spent the rpm of 2: the refused one was not counted");
  t.is(stub.concurrency.inFlight(key.id), 0, "a call refused by the per-minute budget gives its slot back");
});

test("calls that fail, unary or stream, give their slot back", async (t) => {
  const stub = createStub(t);
  const transport = createInProcessTransport(stub.routes, { interceptors: [stub.policy] });
  const client = createClient(InferenceService, transport);
  const failed = ConnectError.from(await t.throwsAsync(client.chat({ params }, { headers })));
  t.is(failed.code, Code.Unavailable);
  t.is(stub.concurrency.inFlight(key.id), 0);
  const streamFailed = ConnectError.from(await t.throwsAsync(openStream(transport, undefined, "fail")));
  t.is(streamFailed.code, Code.Unavailable);
  t.is(stub.concurrency.inFlight(key.id), 0);
});

test("over HTTP/2: a gRPC client that cancels mid-stream frees the slot, though the handler ignores its signal", async (t) => {
  const stub = createStub(t);
  const { serverLimits } = loadConfig({});
  const server = await listenConnect({ routes: stub.routes, interceptors: [stub.policy], host: "127.0.0.1", port: 0, limits: serverLimits });
  t.teardown(() => server.close(0));
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` });
  const abort = new AbortController();
  const parts = (await openStream(transport, abort.signal)).message[Symbol.asyncIterator]();
  t.false((await parts.next()).done);
  t.is(stub.concurrency.inFlight(key.id), 1);
  abort.abort();
  await t.throwsAsync(parts.next());
  // Connect's server (2.1.2 on Node 20) is left waiting on a write into the reset HTTP/2 stream and
  // never closes the handler's stream (stub.closed stays 0); only the aborted signal tells.
  await eventually(() => stub.concurrency.inFlight(key.id) === 0, "the slot came back");
  t.pass();
});
