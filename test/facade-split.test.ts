import test from "ava";
import OpenAI from "openai";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { startSplitMesh } from "./support/split-mesh.js";

// `iir facade` calls Chat and ChatStream on its router with its own gRPC client
// (facade/grpc-router-chat.ts). These follow a request across that hop.

let upstream: FakeUpstream;
let split: Awaited<ReturnType<typeof startSplitMesh>>;
let client: OpenAI;

test.before(async () => {
  upstream = await startFakeUpstream();
  split = await startSplitMesh(upstream.baseUrl);
  client = new OpenAI({ baseURL: `http://127.0.0.1:${split.facade.port}/v1`, apiKey: "unused", maxRetries: 0 });
});

test.after.always(async () => {
  await split?.close();
  await upstream?.close();
});

test.serial("a client gone mid-stream cancels the router's call and the upstream request", async (t) => {
  const closed = upstream.whenClosedByClient();
  const controller = new AbortController();
  const response = await fetch(`http://127.0.0.1:${split.facade.port}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "openai/hang-mid-stream", stream: true, messages: [{ role: "user", content: "x" }] }),
    signal: controller.signal,
  });
  t.is(response.status, 200);
  const reader = response.body!.getReader();
  await reader.read();
  controller.abort();
  await closed;
  t.pass("the upstream saw its request closed");
});

test.serial("an upstream error mid-stream ends the stream with OpenAI's error event", async (t) => {
  const stream = await client.chat.completions.create({ model: "openai/error-mid-stream", stream: true, messages: [{ role: "user", content: "x" }] });
  let text = "";
  const error = await t.throwsAsync(async () => {
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
  });
  t.truthy(text, "parts before the error reached the client");
  t.regex(error?.message ?? "", /server/i);
});

test.serial("upstream failures keep their HTTP status, type and Retry-After across the hop", async (t) => {
  const limited = await t.throwsAsync(client.chat.completions.create({ model: "openai/fail-429", messages: [{ role: "user", content: "x" }] }));
  t.true(limited instanceof OpenAI.RateLimitError);
  t.is((limited as InstanceType<typeof OpenAI.APIError>).headers?.get("retry-after"), "7");
  const invalid = await t.throwsAsync(client.chat.completions.create({ model: "openai/fail-400", messages: [{ role: "user", content: "x" }] }));
  t.like(invalid, { status: 400, param: "messages", code: "invalid_value" });
});

test.serial("60 concurrent requests, half of them streams, all answer in full", async (t) => {
  const requests = Array.from({ length: 60 }, async (_, index) => {
    const content = `request ${index}`;
    if (index % 2 === 0) {
      const answer = await client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content }] });
      return answer.choices[0]?.message.content;
    }
    const stream = await client.chat.completions.create({ model: "openai/gpt-4o-mini", stream: true, messages: [{ role: "user", content }] });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    return text;
  });
  const answers = await Promise.all(requests);
  t.deepEqual(answers, answers.map((_, index) => `echo: request ${index}`));
});
