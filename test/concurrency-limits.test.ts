import type http from "node:http";
import test, { type ExecutionContext } from "ava";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { InferenceService, Role } from "../gen/iir/inference/v1/inference_pb.js";
import { findGatewayError } from "../services/common/errors.js";
import { adminRegistry, bearer } from "./support/admin.js";
import { completionBody, lastUserText, textChunks, type AnswerContext } from "./support/fake-openai-answers.js";
import { startFakeUpstream, type FakeUpstream, type RecordedRequest } from "./support/fake-openai-upstream.js";
import { sendJson } from "./support/fake-openai-wire.js";
import { startMesh, type TestMesh } from "./support/mesh.js";

// Per-key caps on chat calls in flight at once (max_concurrent, RATE_LIMIT_CONCURRENT), kept in
// each router's memory: a stream holds its slot until its last part, its failure, or its client left.

/** A fake provider whose answers wait for `finish(label)`; a stream sends its first delta at once. */
interface HeldUpstream {
  readonly upstream: FakeUpstream;
  /** Lets the answer to the request whose user message is `label` complete, now or when it arrives. */
  finish(label: string): void;
  /** How many requests with that label reached the provider. */
  reached(label: string): number;
}

async function startHeldUpstream(t: ExecutionContext): Promise<HeldUpstream> {
  const gates = new Map<string, () => void>();
  const finished = new Set<string>();
  const upstream = await startFakeUpstream({ defaultScenario: { kind: "custom", handle: (request, response) => hold(request, response, gates, finished) } });
  t.teardown(async () => {
    for (const open of gates.values()) open();
    await upstream.close();
  });
  return {
    upstream,
    finish(label) {
      finished.add(label);
      gates.get(label)?.();
    },
    reached: (label) => upstream.requests.filter((request) => lastUserText(request.body) === label).length,
  };
}

async function hold(request: RecordedRequest, response: http.ServerResponse, gates: Map<string, () => void>, finished: ReadonlySet<string>): Promise<void> {
  const label = lastUserText(request.body);
  const released = finished.has(label) ? Promise.resolve() : new Promise<void>((resolve) => gates.set(label, resolve));
  const context: AnswerContext = { id: `chatcmpl-${label}`, created: 1_700_000_000, model: "gpt-4o-mini", choices: 1, includeUsage: false };
  if (request.body.stream !== true) {
    await released;
    return sendJson(response, 200, completionBody(context, `done: ${label}`, "stop", { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 }));
  }
  const events = textChunks(context, ["started", " done"], "stop").map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`);
  response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8" });
  response.write(events.slice(0, 2).join(""));
  await released;
  if (!response.destroyed) response.end(`${events.slice(2).join("")}data: [DONE]\n\n`);
}

interface Setup {
  readonly mesh: TestMesh;
  readonly held: HeldUpstream;
  readonly keys: Record<string, string>;
}

/** A mesh in front of a held upstream, with keys created over gRPC by the admin (the router enforces them at once). */
async function setUp(t: ExecutionContext, env: Record<string, string>, keys: { name: string; maxConcurrent?: number }[]): Promise<Setup> {
  const held = await startHeldUpstream(t);
  const mesh = await startMesh({ OPENAI_BASE_URL: held.upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-upstream", ...env });
  t.teardown(() => mesh.close());
  const admin = adminRegistry(mesh.routerUrl);
  const created: Record<string, string> = {};
  for (const key of keys) created[key.name] = (await admin.createApiKey(key)).secret;
  return { mesh, held, keys: created };
}

function chat(mesh: TestMesh, key: string, label: string, stream: boolean, signal?: AbortSignal): Promise<Response> {
  return fetch(`${mesh.facadeUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: "openai/gpt-4o-mini", stream, messages: [{ role: "user", content: label }] }),
    signal,
  });
}

/** Starts a stream and returns once its first part reached the client: it is in flight. */
async function inFlightStream(t: ExecutionContext, mesh: TestMesh, key: string, label: string, signal?: AbortSignal): Promise<Response> {
  const response = await chat(mesh, key, label, true, signal);
  t.is(response.status, 200, `${label} is admitted`);
  return response;
}

interface OpenAIError {
  readonly error: { readonly message: string; readonly type: string; readonly param: unknown; readonly code: string };
}

async function expectConcurrencyRefusal(t: ExecutionContext, response: Response, name: string, limit: number): Promise<void> {
  t.is(response.status, 429);
  t.is(response.headers.get("retry-after"), "1");
  const body = (await response.json()) as OpenAIError;
  t.like(body.error, { type: "requests", param: null, code: "concurrency_limit_exceeded" });
  t.is(body.error.message, `Rate limit reached for concurrent requests on API key "${name}": Limit ${limit}, In flight ${limit}, Requested 1. Please try again once one of your requests in flight has finished.`);
}

/** Streams `label` until it is admitted (the slot of a client that went away frees a moment later); returns the answer. */
async function eventuallyAdmitted(mesh: TestMesh, key: string, label: string): Promise<Response> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const response = await chat(mesh, key, label, true);
    if (response.status !== 429) return response;
    await response.body?.cancel();
    if (Date.now() > deadline) throw new Error(`${label} was still refused after 5 s: a slot was never released`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test("with a cap of 2, a third call waits for one of two streams to finish or its client to go away; unary calls count too; keys without a cap are unaffected", async (t) => {
  const { mesh, held, keys } = await setUp(t, {}, [{ name: "capped", maxConcurrent: 2 }, { name: "free" }]);
  const capped = keys.capped!;
  const first = await inFlightStream(t, mesh, capped, "first");
  const abort = new AbortController();
  const second = await inFlightStream(t, mesh, capped, "second", abort.signal);
  await expectConcurrencyRefusal(t, await chat(mesh, capped, "third", true), "capped", 2);
  await expectConcurrencyRefusal(t, await chat(mesh, capped, "third", false), "capped", 2);
  t.is(held.reached("third"), 0, "refused calls never reach the provider");
  const free = await Promise.all(["free-1", "free-2", "free-3"].map((label) => chat(mesh, keys.free!, label, true)));
  t.deepEqual(free.map((response) => response.status), [200, 200, 200], "a key without a cap is unaffected");

  // One stream finishes: its slot is free by the time its client read the end.
  held.finish("first");
  t.regex(await first.text(), /data: \[DONE\]/);
  const third = await inFlightStream(t, mesh, capped, "third");
  await expectConcurrencyRefusal(t, await chat(mesh, capped, "fourth", true), "capped", 2);

  // A client that goes away mid-stream frees its slot too.
  abort.abort();
  // fetch rejects with a DOMException, which is no Error in Node 20.
  t.is(await second.text().then(() => "read to the end", (error: unknown) => (error as { name?: unknown }).name), "AbortError");
  const fourth = await eventuallyAdmitted(mesh, capped, "fourth");
  t.is(fourth.status, 200);
  await expectConcurrencyRefusal(t, await chat(mesh, capped, "fifth", true), "capped", 2);
  held.finish("fourth");
  t.regex(await fourth.text(), /data: \[DONE\]/);
  held.finish("third");
  t.regex(await third.text(), /data: \[DONE\]/);

  // A unary call holds its slot while it waits for the provider.
  const unary = [chat(mesh, capped, "unary-1", false), chat(mesh, capped, "unary-2", false)];
  await eventuallyReached(held, ["unary-1", "unary-2"]);
  await expectConcurrencyRefusal(t, await chat(mesh, capped, "sixth", true), "capped", 2);
  held.finish("unary-1");
  t.is((await unary[0]!).status, 200);
  const sixth = await inFlightStream(t, mesh, capped, "sixth");
  for (const label of ["unary-2", "sixth", "free-1", "free-2", "free-3"]) held.finish(label);
  for (const response of [await unary[1]!, sixth, ...free]) await response.text();
});

/** Returns once every label reached the provider (the calls are admitted and in flight). */
async function eventuallyReached(held: HeldUpstream, labels: readonly string[]): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!labels.every((label) => held.reached(label) > 0)) {
    if (Date.now() > deadline) throw new Error(`never reached the provider: ${labels.filter((label) => held.reached(label) === 0).join(", ")}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test("RATE_LIMIT_CONCURRENT caps keys without their own max_concurrent; a key's own overrides it; ListApiKeys shows it", async (t) => {
  const { mesh, held, keys } = await setUp(t, { RATE_LIMIT_CONCURRENT: "1" }, [{ name: "plain" }, { name: "roomy", maxConcurrent: 2 }]);
  const plain = await inFlightStream(t, mesh, keys.plain!, "plain-1");
  await expectConcurrencyRefusal(t, await chat(mesh, keys.plain!, "plain-2", false), "plain", 1);
  const roomy = [await inFlightStream(t, mesh, keys.roomy!, "roomy-1"), await inFlightStream(t, mesh, keys.roomy!, "roomy-2")];
  await expectConcurrencyRefusal(t, await chat(mesh, keys.roomy!, "roomy-3", true), "roomy", 2);
  for (const label of ["plain-1", "roomy-1", "roomy-2"]) held.finish(label);
  for (const response of [plain, ...roomy]) t.regex(await response.text(), /data: \[DONE\]/);

  const listed = (await adminRegistry(mesh.routerUrl).listApiKeys({})).apiKeys.map((key) => [key.name, key.maxConcurrent]);
  t.deepEqual(listed, [["plain", undefined], ["roomy", 2]]);
  const invalid = ConnectError.from(await t.throwsAsync(adminRegistry(mesh.routerUrl).createApiKey({ name: "zero", maxConcurrent: 0 })));
  t.is(invalid.code, Code.InvalidArgument);
  t.regex(invalid.rawMessage, /max_concurrent must be an integer >= 1, got 0/);
});

test("gRPC callers of the router: ResourceExhausted with the GatewayError detail; a canceled stream frees its slot", async (t) => {
  const { mesh, held, keys } = await setUp(t, {}, [{ name: "grpc", maxConcurrent: 1 }]);
  const inference = createClient(InferenceService, createGrpcTransport({ baseUrl: mesh.routerUrl, interceptors: [bearer(keys.grpc!)] }));
  const params = (label: string) => ({ model: "openai/gpt-4o-mini", messages: [{ role: Role.USER, content: { case: "text" as const, value: label } }] });
  const abort = new AbortController();
  const parts = inference.chatStream({ params: params("held") }, { signal: abort.signal })[Symbol.asyncIterator]();
  t.false((await parts.next()).done, "the stream is in flight");

  const refused = ConnectError.from(await t.throwsAsync(inference.chat({ params: params("refused") })));
  t.is(refused.code, Code.ResourceExhausted);
  t.is(refused.metadata.get("retry-after"), "1");
  t.like(findGatewayError(refused), { httpStatus: 429, type: "requests", code: "concurrency_limit_exceeded" });
  t.regex(refused.rawMessage, /on API key "grpc": Limit 1, In flight 1/);
  t.false(refused.rawMessage.includes(keys.grpc!), "the message never holds the key");

  abort.abort();
  await t.throwsAsync(parts.next());
  await held.upstream.whenClosedByClient(1);
  held.finish("after");
  const deadline = Date.now() + 5000;
  let answer;
  for (;;) {
    answer = await inference.chat({ params: params("after") }).catch((error: unknown) => ConnectError.from(error));
    if (!(answer instanceof ConnectError) || Date.now() > deadline) break;
    t.is(answer.code, Code.ResourceExhausted);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  t.false(answer instanceof ConnectError, "the canceled stream's slot was released");
});
