import http from "node:http";
import test from "ava";
import * as grpc from "@grpc/grpc-js";
import { Role } from "../gen/iir/inference/v1/inference_pb.js";
import { codeToHttpStatus } from "../services/common/errors.js";
import type { RunningAgent } from "../services/agent/server.js";
import { startTestAgent } from "./support/agent-fixtures.js";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { createMalformedRequests } from "./support/malformed-requests.js";
import { startMesh, type TestMesh } from "./support/mesh.js";
import { callWithBytes, deepStructRequest, encodeChatRequest, invalidUtf8ModelRequest, type GrpcOutcome } from "./support/raw-grpc-requests.js";
import { seededRandom } from "./support/seeded-random.js";

// Bad input never produces a 5xx: tens of thousands of malformed requests against the real facade,
// router and agent (the tiny model through node-llama-cpp) and a fake OpenAI upstream, over HTTP
// and over gRPC. The seeds are fixed: a failure names the request number and its mutations.

const localModel = "local/iir-tiny";
const upstreamModel = "openai/gpt-fake";
const httpRequests = 20_000;
const grpcRequests = 1_000;
// Enough requests in flight to overlap the agent's generations with the facade's parsing, few
// enough that a 2-core machine never queues past the agent's limit.
const concurrency = 24;

let mesh: TestMesh;
let upstream: FakeUpstream;
let agent: RunningAgent;

test.before(async () => {
  upstream = await startFakeUpstream();
  // The response cache on: its key canonicalises every field of a request, recursively.
  mesh = await startMesh({ OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-fuzz", CACHE_TTL: "60" });
  agent = await startTestAgent(mesh.routerUrl, { IIR_AGENT_PARALLEL: "4", IIR_AGENT_MAX_QUEUE: "256" });
});

test.after.always(async () => {
  await agent?.close(1000);
  await mesh?.close();
  await upstream?.close();
});

/** Runs `work(0…count-1)` with at most `limit` at a time. */
async function runBounded(count: number, limit: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await work(next++);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

interface HttpAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

function post(url: URL, keepAlive: http.Agent, body: Buffer): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: "POST", agent: keepAlive, headers: { "content-type": "application/json", "content-length": body.length } }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, contentType: response.headers["content-type"] ?? "", body: Buffer.concat(chunks).toString("utf8") }));
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end(body);
  });
}

/** What is wrong with an answer, or undefined: no 5xx, errors in OpenAI's shape, streams without error events. */
function problemWith(answer: HttpAnswer): string | undefined {
  if (answer.status >= 500) return `status ${answer.status}: ${answer.body.slice(0, 300)}`;
  if (answer.status >= 400) return isOpenAIError(parseOrUndefined(answer.body)) ? undefined : `status ${answer.status} without an OpenAI error body: ${answer.body.slice(0, 300)}`;
  if (answer.status !== 200) return `status ${answer.status}`;
  if (!answer.contentType.startsWith("text/event-stream")) {
    const completion = parseOrUndefined(answer.body) as { object?: unknown } | undefined;
    return completion?.object === "chat.completion" ? undefined : `200 that is not a chat.completion: ${answer.body.slice(0, 300)}`;
  }
  for (const line of answer.body.split("\n")) {
    if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
    const event = parseOrUndefined(line.slice(6)) as { error?: unknown } | undefined;
    if (event === undefined || event.error !== undefined) return `stream event ${line.slice(0, 300)}`;
  }
  return undefined;
}

function isOpenAIError(body: unknown): boolean {
  const error = (body as { error?: Record<string, unknown> } | undefined)?.error;
  if (typeof error !== "object" || error === null) return false;
  const nullableString = (value: unknown) => value === null || typeof value === "string";
  return typeof error.message === "string" && typeof error.type === "string" && nullableString(error.param) && nullableString(error.code);
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function tally(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

test.serial(`${httpRequests} malformed requests over HTTP: no 5xx, every error in OpenAI's shape`, async (t) => {
  t.timeout(240_000, "a slow CI machine");
  const url = new URL(`${mesh.facadeUrl}/chat/completions`);
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  t.teardown(() => keepAlive.destroy());
  const next = createMalformedRequests(seededRandom(17), [localModel, upstreamModel]);
  const statuses = new Map<string, number>();
  const problems: string[] = [];
  await runBounded(httpRequests, concurrency, async (index) => {
    const request = next();
    const answer = await post(url, keepAlive, request.body);
    tally(statuses, String(answer.status));
    const problem = problemWith(answer);
    if (problem !== undefined) problems.push(`#${index} [${request.mutations.join("; ")}] ${request.body.subarray(0, 200).toString("utf8")} → ${problem}`);
  });
  t.log("statuses", Object.fromEntries([...statuses].sort()));
  t.deepEqual(problems.slice(0, 20), [], `${problems.length} of ${httpRequests} answers were wrong`);
  t.true((statuses.get("200") ?? 0) > 0 && (statuses.get("400") ?? 0) > 0, "the mix held valid requests as well as invalid ones");
});

type GrpcRequest = { readonly bytes: Buffer; readonly label: string };
type Pick = <T>(list: readonly T[]) => T;

/** A well-formed ChatRequest with wrong values: prototype names, roles out of range, NaN, Structs around the depth limit… */
function wellFormedRequest(index: number, pick: Pick): GrpcRequest {
  const model = pick([localModel, upstreamModel, "__proto__/x", "constructor/x", "toString", "hasOwnProperty", "local/__proto__", "openai/constructor", "", "\u0000"]);
  const messages = [{ role: Role.USER, content: { case: "text" as const, value: pick(["hi", "", "\ud800", "x".repeat(10_000)]) } }];
  switch (index % 5) {
    case 0:
      return { bytes: deepStructRequest(model, pick([10, 60, 64, 65, 66, 100]), pick([false, true])), label: "deep struct" };
    case 1:
      return { bytes: encodeChatRequest({ model, messages: [{ role: pick([0, 6, 99, -1]) as Role, content: messages[0]!.content }], maxTokens: 1 }), label: "role out of range" };
    case 2: {
      const numbers = [Number.NaN, Infinity, -Infinity, -1, 3, 0];
      return { bytes: encodeChatRequest({ model, messages, temperature: pick(numbers), topP: pick(numbers), maxTokens: pick([0, -5, 1]), n: pick([0, -1, 1]) }), label: "numbers" };
    }
    case 3: {
      const extra = JSON.parse(`{"__proto__":{"x":1},"constructor":"c","toString":{"$typeName":"google.protobuf.Struct","fields":{}},"length":{"length":1e9}}`) as Record<string, never>;
      return { bytes: encodeChatRequest({ model, messages, maxTokens: 1, extra, tools: [{ type: "function", function: { name: "f", parameters: extra } }] }), label: "odd extras" };
    }
    default:
      return { bytes: encodeChatRequest({ model, messages: pick([[], messages, [{ role: Role.TOOL, content: messages[0]!.content }]]), maxTokens: 1 }), label: "messages" };
  }
}

/** Bytes protobuf-es cannot decode into a ChatRequest: nested past any limit, truncated, not UTF-8, random. */
function undecodableRequest(index: number, pick: Pick, random: () => number): GrpcRequest {
  switch (index % 4) {
    case 0:
      return { bytes: deepStructRequest(pick([localModel, upstreamModel]), pick([1000, 10_000]), pick([false, true])), label: "deep struct" };
    case 1:
      return { bytes: Buffer.from(Array.from({ length: 1 + Math.floor(random() * 64) }, () => Math.floor(random() * 256))), label: "random bytes" };
    case 2: {
      const whole = encodeChatRequest({ model: upstreamModel, messages: [{ role: Role.USER, content: { case: "text", value: "hi" } }], maxTokens: 1 });
      return { bytes: whole.subarray(0, 1 + Math.floor(random() * (whole.length - 1))), label: "truncated" };
    }
    default:
      return { bytes: invalidUtf8ModelRequest(), label: "model not UTF-8" };
  }
}

/** Sends `count` requests made by `requestFor` to the router's Chat and ChatStream; returns the codes seen and every call that ended server-side. */
async function fuzzGrpc(count: number, seed: number, requestFor: (index: number, pick: Pick, random: () => number) => GrpcRequest) {
  const client = new grpc.Client(`127.0.0.1:${mesh.routerPort}`, grpc.credentials.createInsecure());
  const random = seededRandom(seed);
  const pick: Pick = (list) => list[Math.floor(random() * list.length)]!;
  const codes = new Map<string, number>();
  const problems: string[] = [];
  try {
    await runBounded(count, concurrency, async (index) => {
      const request = requestFor(index, pick, random);
      const method = pick(["Chat", "ChatStream"] as const);
      const outcome: GrpcOutcome = await callWithBytes(client, method, request.bytes);
      tally(codes, grpc.status[outcome.code]);
      if (outcome.code !== grpc.status.OK && codeToHttpStatus(outcome.code as number) >= 500) {
        problems.push(`#${index} ${method} ${request.label}: ${grpc.status[outcome.code]} ${decodeURIComponent(outcome.details).slice(0, 200)}`);
      }
    });
  } finally {
    client.close();
  }
  return { codes: Object.fromEntries([...codes].sort()), problems };
}

test.serial(`${grpcRequests} well-formed ChatRequests with wrong values over gRPC: never a code a 5xx stands for`, async (t) => {
  t.timeout(120_000, "a slow CI machine");
  const { codes, problems } = await fuzzGrpc(grpcRequests, 29, wellFormedRequest);
  t.log("codes", codes);
  t.deepEqual(problems.slice(0, 20), [], `${problems.length} of ${grpcRequests} calls ended with a server-side code`);
});

test.serial(`${grpcRequests} ChatRequests protobuf cannot decode, over gRPC: InvalidArgument`, async (t) => {
  t.timeout(120_000, "a slow CI machine");
  const { codes, problems } = await fuzzGrpc(grpcRequests, 31, undecodableRequest);
  t.log("codes", codes);
  t.deepEqual(problems.slice(0, 20), [], `${problems.length} of ${grpcRequests} calls ended with a server-side code`);
  t.deepEqual(Object.keys(codes), ["INVALID_ARGUMENT"]);
});

test.serial("after the fuzzing, both models still answer a normal request", async (t) => {
  const url = new URL(`${mesh.facadeUrl}/chat/completions`);
  const keepAlive = new http.Agent({ keepAlive: false });
  for (const model of [localModel, upstreamModel]) {
    const answer = await post(url, keepAlive, Buffer.from(JSON.stringify({ model, messages: [{ role: "user", content: "still there?" }], max_tokens: 2 })));
    t.is(answer.status, 200, answer.body);
    t.is((JSON.parse(answer.body) as { object?: string }).object, "chat.completion");
  }
});
