import test from "ava";
import OpenAI from "openai";
import { startTestAgent } from "./support/agent-fixtures.js";
import { startMesh } from "./support/mesh.js";

// Beyond its sequences and its queue, an agent refuses work; the client sees OpenAI's 429.

test("a full agent queue is 429 rate_limit_exceeded with Retry-After, and the agent keeps serving", async (t) => {
  const mesh = await startMesh();
  t.teardown(() => mesh.close());
  const agent = await startTestAgent(mesh.routerUrl, { IIR_AGENT_PARALLEL: "1", IIR_AGENT_MAX_QUEUE: "1" });
  t.teardown(() => agent.close(1000));
  const client = new OpenAI({ baseURL: mesh.facadeUrl, apiKey: "unused", maxRetries: 0 });
  const request = () => client.chat.completions.create({ model: "local/iir-tiny", messages: [{ role: "user", content: "busy?" }], max_tokens: 3000, temperature: 0 });

  const running = request();
  while (agent.engine.load().activeSequences === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  const queued = request();
  while (agent.engine.load().queueLength === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  const refused = await t.throwsAsync(request());
  t.true(refused instanceof OpenAI.RateLimitError, String(refused));
  t.is((refused as InstanceType<typeof OpenAI.RateLimitError>).code, "rate_limit_exceeded");
  t.is((refused as InstanceType<typeof OpenAI.RateLimitError>).headers?.get("retry-after"), "1");

  const [first, second] = await Promise.all([running, queued]);
  t.is(first.usage?.completion_tokens, 3000);
  t.is(second.usage?.completion_tokens, 3000, "the queued request ran once a sequence was free");
});
