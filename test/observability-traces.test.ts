import test from "ava";
import OpenAI from "openai";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { loadConfig } from "../services/common/config.js";
import { createLogger } from "../services/common/logger.js";
import { startAgent, type RunningAgent } from "../services/agent/server.js";
import { agentEnv } from "./support/agent-fixtures.js";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { startMesh, type TestMesh } from "./support/mesh.js";

// One process as `iir all` runs it, its spans going to memory: facade → router → adapter → agent.
const exporter = new InMemorySpanExporter();
let upstream: FakeUpstream;
let mesh: TestMesh;
let agent: RunningAgent;
let client: OpenAI;

test.before(async () => {
  upstream = await startFakeUpstream();
  mesh = await startMesh({ OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-test" }, { spanExporter: exporter });
  const config = loadConfig(await agentEnv());
  agent = await startAgent(config, createLogger({ level: "silent", name: "test-agent" }), mesh.routerUrl, mesh.telemetry);
  await agent.membership.registered;
  client = new OpenAI({ baseURL: mesh.facadeUrl, apiKey: "unused", maxRetries: 0 });
});

test.after.always(async () => {
  await agent?.close(1000);
  await mesh?.close();
  await upstream?.close();
});

/** The spans of the trace whose facade span has this request id, once `count` of them ended. */
async function traceOf(requestId: string, count: number): Promise<ReadableSpan[]> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const spans = exporter.getFinishedSpans();
    const root = spans.find((span) => span.attributes["iir.request_id"] === requestId);
    if (root !== undefined) {
      const traceId = root.spanContext().traceId;
      const trace = spans.filter((span) => span.spanContext().traceId === traceId);
      if (trace.length >= count) return trace;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the trace of ${requestId} did not reach ${count} spans`);
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

test.serial("one request to an agent is one trace: facade, router, adapter and agent spans, each the child of the one before", async (t) => {
  const requestId = `trace-agent-${crypto.randomUUID()}`;
  const stream = await client.chat.completions.create(
    { model: "local/iir-tiny", messages: [{ role: "user", content: "trace me" }], max_tokens: 5, temperature: 0, stream: true, stream_options: { include_usage: true } },
    { headers: { "x-request-id": requestId } },
  );
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) usage = chunk.usage ?? usage;
  const spans = await traceOf(requestId, 4);
  t.is(spans.length, 4, "exactly one span per hop");
  const byScope = (scope: string, kind: SpanKind) => spans.find((span) => span.instrumentationScope.name === scope && span.kind === kind);
  const facade = byScope("iir.facade", SpanKind.SERVER);
  const router = byScope("iir.router", SpanKind.SERVER);
  const adapter = byScope("iir.router", SpanKind.CLIENT);
  const agentSpan = byScope("iir.agent", SpanKind.SERVER);
  if (!facade || !router || !adapter || !agentSpan) return t.fail(`spans: ${spans.map((span) => `${span.instrumentationScope.name}/${span.kind}`).join(", ")}`);
  t.is(parentOf(facade), undefined, "the client sent no traceparent: the facade starts the trace");
  t.is(parentOf(router), facade.spanContext().spanId);
  t.is(parentOf(adapter), router.spanContext().spanId);
  t.is(parentOf(agentSpan), adapter.spanContext().spanId);
  t.is(facade.name, "chat local/iir-tiny");
  for (const span of [facade, router, adapter, agentSpan]) {
    t.is(span.attributes["gen_ai.operation.name"], "chat");
    t.is(span.attributes["gen_ai.request.model"], "local/iir-tiny");
  }
  t.is(adapter.attributes["gen_ai.provider.name"], "local");
  t.is(adapter.attributes["iir.backend"], agent.id);
  for (const span of [facade, router, adapter, agentSpan]) {
    t.is(span.attributes["gen_ai.usage.input_tokens"], usage?.prompt_tokens);
    t.is(span.attributes["gen_ai.usage.output_tokens"], 5);
  }
  for (const span of [router, adapter, agentSpan]) t.deepEqual(span.attributes["gen_ai.response.finish_reasons"], ["length"]);
});

test.serial("a provider request carries the trace to the upstream in a traceparent header", async (t) => {
  const requestId = `trace-provider-${crypto.randomUUID()}`;
  const completion = await client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "trace me" }] }, { headers: { "x-request-id": requestId } });
  const spans = await traceOf(requestId, 3);
  const facade = spans.find((span) => span.attributes["iir.request_id"] === requestId)!;
  const adapter = spans.find((span) => span.kind === SpanKind.CLIENT)!;
  const traceparent = upstream.lastRequest().headers.traceparent;
  t.is(typeof traceparent, "string");
  const [, traceId, parentId] = String(traceparent).split("-");
  t.is(traceId, facade.spanContext().traceId);
  t.is(parentId, adapter.spanContext().spanId, "the upstream's parent is the adapter's span");
  t.is(adapter.attributes["gen_ai.provider.name"], "openai");
  t.is(adapter.attributes["gen_ai.request.model"], "gpt-4o-mini", "the adapter span names the model the upstream knows");
  t.is(adapter.attributes["gen_ai.usage.output_tokens"], completion.usage?.completion_tokens);
  t.deepEqual(adapter.attributes["gen_ai.response.finish_reasons"], ["stop"]);
});

test.serial("a client's own traceparent is continued, and a failed attempt marks its span", async (t) => {
  const clientTrace = "0af7651916cd43dd8448eb211c80319c";
  const requestId = `trace-failure-${crypto.randomUUID()}`;
  await client.chat.completions
    .create({ model: "openai/fail-503", messages: [{ role: "user", content: "x" }] }, { headers: { "x-request-id": requestId, traceparent: `00-${clientTrace}-b7ad6b7169203331-01` } })
    .catch(() => undefined);
  const spans = await traceOf(requestId, 3);
  t.true(spans.every((span) => span.spanContext().traceId === clientTrace));
  const adapter = spans.find((span) => span.kind === SpanKind.CLIENT)!;
  t.is(adapter.attributes["error.type"], "unavailable");
  const facade = spans.find((span) => span.attributes["iir.request_id"] === requestId)!;
  t.is(facade.parentSpanContext?.spanId, "b7ad6b7169203331");
  t.is(facade.attributes["http.response.status_code"], 503);
});

test("without a span exporter or OTLP endpoint no trace context is sent anywhere", async (t) => {
  const quiet = await startMesh({ OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-test" });
  t.teardown(() => quiet.close());
  t.is(quiet.telemetry.tracing, undefined);
  const quietClient = new OpenAI({ baseURL: quiet.facadeUrl, apiKey: "unused", maxRetries: 0 });
  await quietClient.chat.completions.create({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "no trace" }] });
  const received = upstream.requests.filter((request) => JSON.stringify(request.body).includes("no trace"));
  t.is(received.length, 1);
  t.is(received[0]!.headers.traceparent, undefined);
});
