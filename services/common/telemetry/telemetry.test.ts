import http from "node:http";
import type { AddressInfo } from "node:net";
import test from "ava";
import { SpanKind } from "@opentelemetry/api";
import { createTelemetry } from "./telemetry.js";

test("without an OTLP endpoint or span exporter there is no tracing at all", async (t) => {
  const telemetry = await createTelemetry({ serviceName: "iir-test" });
  t.is(telemetry.tracing, undefined);
  await telemetry.shutdown();
});

test("with OTEL_EXPORTER_OTLP_ENDPOINT spans are posted to <endpoint>/v1/traces over OTLP/HTTP", async (t) => {
  const received: { path: string; contentType: string; body: string }[] = [];
  const collector = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      received.push({ path: request.url ?? "", contentType: request.headers["content-type"] ?? "", body: Buffer.concat(chunks).toString("utf8") });
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
  t.teardown(() => collector.close());
  const telemetry = await createTelemetry({ serviceName: "iir-otlp-test", otlpEndpoint: `http://127.0.0.1:${(collector.address() as AddressInfo).port}` });
  const tracing = telemetry.tracing!;
  const parent = tracing.startSpan("iir.test", "chat some-model", SpanKind.SERVER, { "gen_ai.request.model": "some-model" });
  const child = tracing.startSpan("iir.test", "chat upstream", SpanKind.CLIENT, {}, parent);
  const headers = tracing.headersFor(child);
  t.regex(headers.traceparent ?? "", new RegExp(`^00-${parent.spanContext().traceId}-${child.spanContext().spanId}-01$`));
  const nextHop = tracing.startSpan("iir.test", "chat next hop", SpanKind.SERVER, {}, tracing.extract(new Headers(headers)));
  t.is(nextHop.spanContext().traceId, parent.spanContext().traceId, "the next hop continues the trace from the headers alone");
  nextHop.end();
  child.end();
  parent.end();
  await telemetry.shutdown();
  t.is(received.length, 1, "one batch");
  t.is(received[0]!.path, "/v1/traces");
  t.true(received[0]!.body.includes("iir-otlp-test"), "the process's service.name is the resource's");
  const exported = JSON.parse(received[0]!.body) as { resourceSpans: { scopeSpans: { spans: { name: string; parentSpanId?: string }[] }[] }[] };
  const spans = exported.resourceSpans.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans));
  t.deepEqual(spans.map((span) => span.name).sort(), ["chat next hop", "chat some-model", "chat upstream"]);
  t.is(spans.find((span) => span.name === "chat next hop")?.parentSpanId, child.spanContext().spanId, "the next hop's parent is the span whose headers it got");
});

test("an unreachable collector loses spans but does not fail the shutdown", async (t) => {
  const unused = http.createServer();
  await new Promise<void>((resolve) => unused.listen(0, "127.0.0.1", resolve));
  const port = (unused.address() as AddressInfo).port;
  await new Promise<void>((resolve) => unused.close(() => resolve()));
  const telemetry = await createTelemetry({ serviceName: "iir-test", otlpEndpoint: `http://127.0.0.1:${port}` });
  telemetry.tracing!.startSpan("iir.test", "chat lost", SpanKind.SERVER, {}).end();
  await t.notThrowsAsync(telemetry.shutdown());
});
