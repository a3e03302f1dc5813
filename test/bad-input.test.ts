import test from "ava";
import type { RunningAgent } from "../services/agent/server.js";
import { maximumRequestDepth } from "../services/common/json-depth.js";
import { startTestAgent } from "./support/agent-fixtures.js";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { startMesh, type TestMesh } from "./support/mesh.js";

// Bad input is the client's to fix: a 4xx in OpenAI's error shape naming the field, whatever the
// value, never a 5xx. Requests go to the real facade, router and agent (the tiny model) and a fake
// OpenAI upstream.

const localModel = "local/iir-tiny";
const upstreamModel = "openai/gpt-fake";
let mesh: TestMesh;
let upstream: FakeUpstream;
let agent: RunningAgent;

test.before(async () => {
  upstream = await startFakeUpstream();
  mesh = await startMesh({ OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-test" });
  agent = await startTestAgent(mesh.routerUrl);
});

test.after.always(async () => {
  await agent?.close(1000);
  await mesh?.close();
  await upstream?.close();
});

interface OpenAIError {
  readonly message: string;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
}

/** POSTs a body (an object, or JSON text as it is) and returns the status and parsed answer. */
async function send(body: unknown): Promise<{ status: number; answer: { error?: OpenAIError; object?: string } }> {
  const response = await fetch(`${mesh.facadeUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, answer: (await response.json()) as { error?: OpenAIError; object?: string } };
}

const hello = [{ role: "user", content: "hi" }];
const valid = { model: upstreamModel, messages: hello, max_tokens: 2 };

test("a value of the wrong type in any field is a 400 naming that field", async (t) => {
  const cases: [Record<string, unknown>, string][] = [
    [{ messages: [{ role: { toString: 1 }, content: "x" }] }, "messages[0].role"],
    [{ messages: [{ role: ["user"], content: "x" }] }, "messages[0].role"],
    [{ messages: [{ role: true, content: "x" }] }, "messages[0].role"],
    [{ messages: [{ role: "user", content: { valueOf: {} } }] }, "messages[0].content"],
    [{ messages: [{ role: "user", content: 42 }] }, "messages[0].content"],
    [{ messages: [{ role: "user", content: [{ type: { toString: "text" } }] }] }, "messages[0].content[0].type"],
    [{ messages: [{ role: "user", content: [{ type: "image_url", image_url: "https://x" }] }] }, "messages[0].content[0].image_url"],
    [{ messages: [{ role: "user", content: "x", name: {} }] }, "messages[0].name"],
    [{ messages: [{ role: "tool", content: "x", tool_call_id: [] }] }, "messages[0].tool_call_id"],
    [{ messages: [{ role: "assistant", content: "x", tool_calls: {} }] }, "messages[0].tool_calls"],
    [{ messages: {} }, "messages"],
    [{ messages: [[]] }, "messages[0]"],
    [{ model: { toString: "x" } }, "model"],
    [{ model: [upstreamModel] }, "model"],
    [{ stop: [{}] }, "stop[0]"],
    [{ user: 5 }, "user"],
    [{ tools: {} }, "tools"],
    [{ tools: [[]] }, "tools[0]"],
    [{ tool_choice: 5 }, "tool_choice"],
    [{ response_format: "json" }, "response_format"],
    [{ stream: "true" }, "stream"],
    [{ stream_options: [] }, "stream_options"],
    [{ n: "1" }, "n"],
    [{ max_tokens: null, max_completion_tokens: "2" }, "max_completion_tokens"],
    [{ temperature: "NaN" }, "temperature"],
    [{ seed: 1.5 }, "seed"],
  ];
  for (const [change, param] of cases) {
    const { status, answer } = await send({ ...valid, ...change });
    t.is(status, 400, `${param}: ${JSON.stringify(answer)}`);
    t.like(answer.error, { type: "invalid_request_error", param, code: "invalid_type" }, param);
  }
});

test("a role that is no role, Object.prototype's member names included, is an invalid value; a long one is not echoed whole", async (t) => {
  for (const role of ["constructor", "__proto__", "toString", "hasOwnProperty", "User", "", "r".repeat(100_000)]) {
    const { status, answer } = await send({ ...valid, messages: [{ role, content: "x" }] });
    t.is(status, 400);
    t.like(answer.error, { param: "messages[0].role", code: "invalid_value" });
    t.true(answer.error!.message.length < 600, "the message quotes at most a few hundred characters");
  }
});

test("numbers past every range are a 400 naming the field, even those JSON.parse turns into Infinity", async (t) => {
  const cases: [string, string][] = [
    ['"max_tokens":1e400', "max_tokens"],
    ['"max_tokens":2147483648', "max_tokens"],
    ['"temperature":-1e400', "temperature"],
    ['"top_p":1.0000001', "top_p"],
    ['"seed":1e400', "seed"],
    ['"seed":9223372036854775808', "seed"],
    ['"n":1e308', "n"],
    ['"presence_penalty":123456789012345678901234567890', "presence_penalty"],
  ];
  for (const [field, param] of cases) {
    const { status, answer } = await send(`{"model":"${upstreamModel}","messages":[{"role":"user","content":"x"}],${field}}`);
    t.is(status, 400, field);
    t.is(answer.error?.param, param, field);
  }
});

test("model names that are Object.prototype's members find neither a provider nor an agent", async (t) => {
  for (const model of ["constructor/x", "__proto__/x", "toString/x", "hasOwnProperty", "__proto__", "constructor", "local/__proto__", "local/constructor", "openai/"]) {
    const { status, answer } = await send({ ...valid, model });
    t.is(status, 404, `${model}: ${JSON.stringify(answer)}`);
    t.like(answer.error, { type: "invalid_request_error", code: "model_not_found" }, model);
  }
});

/** `levels` levels of `{"a":…}` as JSON text, the innermost holding `leaf`. */
function nestedText(levels: number, leaf = "1"): string {
  return `${'{"a":'.repeat(levels)}${leaf}${"}".repeat(levels)}`;
}

test(`a request nested ${maximumRequestDepth} levels deep is served by the agent and by the upstream`, async (t) => {
  // The body is level 1: an extra at the top holds 63 more, one in a message 61 more.
  const top = maximumRequestDepth - 1;
  const inMessage = maximumRequestDepth - 3;
  for (const model of [localModel, upstreamModel]) {
    const atTop = await send(`{"model":"${model}","messages":[{"role":"user","content":"x"}],"max_tokens":2,"deep":${nestedText(top)}}`);
    t.is(atTop.status, 200, `${model}: ${JSON.stringify(atTop.answer)}`);
    const inside = await send(`{"model":"${model}","messages":[{"role":"user","content":"x","deep":${nestedText(inMessage)}}],"max_tokens":2}`);
    t.is(inside.status, 200, `${model}: ${JSON.stringify(inside.answer)}`);
  }
});

test(`a request nested deeper than ${maximumRequestDepth} levels is a 400 naming where, however deep`, async (t) => {
  const justOver = await send(`{"model":"${localModel}","messages":[{"role":"user","content":"x","deep":${nestedText(maximumRequestDepth - 2)}}]}`);
  t.is(justOver.status, 400);
  t.like(justOver.answer.error, { type: "invalid_request_error", code: "nesting_too_deep", param: "messages[0].deep.a" });
  t.regex(justOver.answer.error!.message, /deeper than 64 levels/);
  // 500,000 levels of objects is 3 MB, within the 4 MB body limit.
  for (const levels of [10_000, 500_000]) {
    const objects = await send(`{"model":"${upstreamModel}","messages":[{"role":"user","content":"x"}],"deep":${nestedText(levels)}}`);
    t.is(objects.status, 400);
    t.like(objects.answer.error, { code: "nesting_too_deep", param: "deep.a.a.a" });
    const arrays = await send(`${"[".repeat(levels)}${"]".repeat(levels)}`);
    t.is(arrays.status, 400);
    t.like(arrays.answer.error, { code: "nesting_too_deep", param: "[0][0][0][0]" });
  }
});

test("lone surrogates, control characters and direction marks are text like any other", async (t) => {
  const text = '"\\ud800 \\udfff\\ud800 \\u0000\\u001b[31m \\u202e\\u200f \\ufeff 💥"';
  for (const model of [localModel, upstreamModel]) {
    const { status, answer } = await send(`{"model":"${model}","messages":[{"role":"user","content":${text},"name":${text}}],"user":${text},"max_tokens":2}`);
    t.is(status, 200, JSON.stringify(answer));
    t.is(answer.object, "chat.completion");
  }
  const { status } = await send(`{"model":"${localModel}\\ud800","messages":[{"role":"user","content":"x"}]}`);
  t.is(status, 404, "a model name with a lone surrogate is just a name no one serves");
});

test("fields named like Object.prototype's members reach the upstream as plain fields", async (t) => {
  const body = `{"model":"${upstreamModel}","max_tokens":2,"constructor":"c","toString":1,"hasOwnProperty":[1],"__proto__":{"polluted":true},
    "messages":[{"role":"user","content":"x","valueOf":{"isPrototypeOf":2},"__proto__":{"role":"system"}}]}`;
  const { status } = await send(body);
  t.is(status, 200);
  const received = upstream.lastRequest().body as Record<string, unknown> & { messages: Record<string, unknown>[] };
  t.like(received, { constructor: "c", toString: 1, hasOwnProperty: [1] });
  t.false(Object.hasOwn(received, "__proto__"), "__proto__ is dropped, never turned into a prototype");
  t.is(received.polluted, undefined);
  t.like(received.messages[0], { role: "user", content: "x", valueOf: { isPrototypeOf: 2 } });
  t.false(Object.hasOwn(received.messages[0]!, "__proto__"));
});
