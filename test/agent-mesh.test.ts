import test from "ava";
import OpenAI from "openai";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RegistryService } from "../gen/iir/registry/v1/registry_pb.js";
import type { RunningAgent } from "../services/agent/server.js";
import { startTestAgent } from "./support/agent-fixtures.js";
import { startMesh, type TestMesh } from "./support/mesh.js";

// Real llama.cpp inference on the generated tiny model: facade → router → agent, all on loopback.

let mesh: TestMesh;
let agent: RunningAgent;
let client: OpenAI;
const model = "local/iir-tiny";
const hello = [{ role: "user" as const, content: "hello agent" }];

test.before(async () => {
  mesh = await startMesh();
  agent = await startTestAgent(mesh.routerUrl, { IIR_AGENT_PARALLEL: "4", IIR_AGENT_MAX_QUEUE: "64" });
  client = new OpenAI({ baseURL: mesh.facadeUrl, apiKey: "unused", maxRetries: 0 });
});

test.after.always(async () => {
  await agent?.close(1000);
  await mesh?.close();
});

async function streamText(options: { maxTokens: number; content?: string; signal?: AbortSignal }) {
  const stream = await client.chat.completions.create(
    {
      model,
      messages: [{ role: "user", content: options.content ?? "hello agent" }],
      max_tokens: options.maxTokens,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    },
    options.signal ? { signal: options.signal } : {},
  );
  let text = "";
  let usage: OpenAI.CompletionUsage | undefined;
  let finish: string | null | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
    if (chunk.usage) usage = chunk.usage;
  }
  return { text, usage, finish };
}

test.serial("the agent's model is listed while its agent is live", async (t) => {
  const ids: string[] = [];
  for await (const entry of client.models.list()) ids.push(entry.id);
  t.true(ids.includes(model));
  t.is((await client.models.retrieve(model)).owned_by, "local");
});

test.serial("a non-streaming completion runs real inference and reports real token counts", async (t) => {
  const { data, response } = await client.chat.completions.create({ model, messages: hello, max_tokens: 12, temperature: 0 }).withResponse();
  t.is(data.model, model);
  t.is(data.choices[0]?.finish_reason, "length");
  t.is(data.usage?.completion_tokens, 12, "max_tokens is honoured and counted in tokens, not characters");
  t.true(data.usage!.prompt_tokens > hello[0]!.content.length, "the prompt went through the chat template");
  t.is(data.usage?.total_tokens, data.usage!.prompt_tokens + 12);
  t.is(response.headers.get("x-iir-backend"), agent.id);
});

test.serial("temperature 0 is deterministic, and the stream says what the whole answer says", async (t) => {
  const first = await streamText({ maxTokens: 20 });
  const second = await streamText({ maxTokens: 20 });
  t.true(first.text.length > 0);
  t.is(first.text, second.text);
  t.is(first.finish, "length");
  t.is(first.usage?.completion_tokens, 20);
  const whole = await client.chat.completions.create({ model, messages: hello, max_tokens: 20, temperature: 0 });
  t.is(whole.choices[0]?.message.content, first.text);
  t.deepEqual(whole.usage, first.usage);
});

test.serial("a longer prompt counts more prompt tokens", async (t) => {
  const short = await client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 1 });
  const long = await client.chat.completions.create({ model, messages: [{ role: "user", content: "hi there, how are you?" }], max_tokens: 1 });
  t.true(long.usage!.prompt_tokens > short.usage!.prompt_tokens);
});

test.serial("more concurrent streams than sequences all complete", async (t) => {
  const results = await Promise.all(Array.from({ length: 7 }, (_, index) => streamText({ maxTokens: 24, content: `request ${index}` })));
  for (const result of results) t.is(result.usage?.completion_tokens, 24);
  t.is(agent.engine.load().activeSequences, 0);
  t.is(agent.engine.load().queueLength, 0);
});

test.serial("a client that goes away frees its sequence", async (t) => {
  const controller = new AbortController();
  const stream = await client.chat.completions.create(
    { model, messages: hello, max_tokens: 3500, temperature: 0, stream: true },
    { signal: controller.signal },
  );
  const iterator = stream[Symbol.asyncIterator]();
  await iterator.next();
  await iterator.next();
  t.is(agent.engine.load().activeSequences, 1);
  controller.abort();
  const deadline = Date.now() + 10_000;
  while (agent.engine.load().activeSequences !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  t.is(agent.engine.load().activeSequences, 0, "decoding stopped and the sequence went back to the pool");
});

test.serial("a prompt longer than the context is 400 context_length_exceeded", async (t) => {
  const error = await t.throwsAsync(client.chat.completions.create({ model, messages: [{ role: "user", content: "word ".repeat(5000) }] }));
  t.true(error instanceof OpenAI.BadRequestError);
  t.is((error as InstanceType<typeof OpenAI.BadRequestError>).code, "context_length_exceeded");
  t.is((error as InstanceType<typeof OpenAI.BadRequestError>).param, "messages");
});

test.serial("the router lists the agent with its hardware and load", async (t) => {
  const registry = createClient(RegistryService, createGrpcTransport({ baseUrl: mesh.routerUrl }));
  await new Promise((resolve) => setTimeout(resolve, 1200));
  const { agents } = await registry.listAgents({});
  const listed = agents.find((entry) => entry.id === agent.id);
  t.truthy(listed);
  t.false(listed!.stale);
  t.deepEqual(listed!.models, [model]);
  t.true(listed!.hardware!.cpuCores > 0);
  t.true(listed!.hardware!.memoryBytes > 0n);
  t.truthy(listed!.load, "a beat arrived with the agent's load");
});

test.serial("a second agent joins, takes load, and when it leaves traffic moves to the first", async (t) => {
  const second = await startTestAgent(mesh.routerUrl, { IIR_AGENT_ID: "second-agent" });
  const backends = new Set<string>();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      const { response } = await client.chat.completions
        .create({ model, messages: hello, max_tokens: 200, temperature: 0 })
        .withResponse();
      backends.add(response.headers.get("x-iir-backend") ?? "");
    }),
  );
  t.deepEqual([...backends].sort(), [agent.id, "second-agent"].sort(), "least-loaded routing spreads concurrent requests");
  await second.close(1000);
  for (let index = 0; index < 3; index++) {
    const { response } = await client.chat.completions.create({ model, messages: hello, max_tokens: 2 }).withResponse();
    t.is(response.headers.get("x-iir-backend"), agent.id);
  }
});
