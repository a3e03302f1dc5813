import test from "ava";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { InferenceService, Role, type ChatStreamResponse } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatAdapter, ChatTarget } from "../adapters/adapter.js";
import { createInferenceService } from "../inference-service.js";
import { createCircuitBreakers } from "./circuit-breaker.js";
import { createRetryBudget } from "./retry-budget.js";

const targetOf = (backend: string): ChatTarget => ({ backend, provider: "openai", baseUrl: `http://${backend}.invalid/v1`, apiKey: undefined, upstreamModel: "m" });

test("once the request's deadline passed no further candidate is called, charged to its breaker or to the retry budget", async (t) => {
  // The first backend never answers; the request's deadline ends it. The next one must not be tried.
  const hanging: ChatAdapter = {
    chat: () => Promise.reject(new Error("unused")),
    async *chatStream(_params, _target, signal): AsyncGenerator<ChatStreamResponse> {
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      throw new ConnectError("aborted", Code.Canceled);
    },
  };
  let secondCalls = 0;
  const second: ChatAdapter = {
    chat: () => Promise.reject(new Error("unused")),
    // eslint-disable-next-line require-yield
    async *chatStream(): AsyncGenerator<ChatStreamResponse> {
      secondCalls += 1;
      throw new ConnectError("never reached", Code.Unavailable);
    },
  };
  const breakers = createCircuitBreakers({ settings: { failures: 1, cooldownMs: 60_000, maxCooldownMs: 60_000 } });
  const budget = createRetryBudget({ percent: 0, windowMs: 60_000, minimum: 1 });
  const service = createInferenceService({
    resolver: { resolve: () => [{ adapter: hanging, target: targetOf("first") }, { adapter: second, target: targetOf("second") }] },
    listModels: () => [],
    breakers,
    timeouts: { firstTokenMs: 0, streamIdleMs: 0, requestMs: 100 },
    retryBudget: budget,
  });
  const client = createClient(InferenceService, createRouterTransport((router) => router.service(InferenceService, service)));
  const error = await t.throwsAsync(async () => {
    for await (const _ of client.chatStream({ params: { model: "m", messages: [{ role: Role.USER, content: { case: "text", value: "hi" } }] } })) t.fail("no part was sent");
  });
  t.is(ConnectError.from(error).code, Code.DeadlineExceeded);
  t.regex(ConnectError.from(error).rawMessage, /ran out of time.*first/);
  t.is(secondCalls, 0);
  t.deepEqual([...breakers.states().keys()].map((key) => key.includes("second")), [false], "only the backend that held the request is charged");
  t.true(budget.tryRetry(), "the one retry of the budget is still there");
});
