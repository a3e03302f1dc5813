import test from "ava";
import { DataPointType, MeterProvider, MetricReader, type MetricData } from "@opentelemetry/sdk-metrics";
import { createPreboundMeter } from "./bound-instruments.js";

// Pre-bound instruments must report exactly what the SDK's own instruments report for the same records.

class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

async function metricsOf(reader: MetricReader): Promise<Map<string, MetricData>> {
  const { resourceMetrics } = await reader.collect();
  return new Map(resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).map((metric) => [metric.descriptor.name, metric]));
}

const boundaries = [0.5, 1, 2.5, 10];
const values = [0, 0.5, 0.50001, 1, 1, 2.4, 2.5, 9.99, 10, 10.5, 1e9, -3];

test("histogram and counter series match the SDK's for the same records, bucket edges included", async (t) => {
  const sdkReader = new TestReader();
  const provider = new MeterProvider({ readers: [sdkReader] });
  const sdkMeter = provider.getMeter("iir.test");
  const sdkHistogram = sdkMeter.createHistogram("latency", { unit: "s", description: "d", advice: { explicitBucketBoundaries: boundaries } });
  const sdkCounter = sdkMeter.createCounter("hits_total", { description: "c" });

  const prebound = createPreboundMeter("iir.test");
  const histogram = prebound.histogram("latency", { unit: "s", description: "d", boundaries });
  const counter = prebound.counter("hits_total", { description: "c" });
  const attributes = { route: "chat", status: "200" };
  const other = { route: "chat", status: "500" };
  const bound = histogram.bind(attributes);
  for (const value of values) {
    sdkHistogram.record(value, attributes);
    bound.record(value);
  }
  for (const [value, labels] of [[1, attributes], [2, attributes], [1, other], [-1, other], [Number.POSITIVE_INFINITY, other]] as const) {
    sdkCounter.add(value, labels);
    counter.bind(labels).add(value);
  }
  histogram.bind(other); // bound, never recorded: not reported, as the SDK reports no series it never saw

  const sdk = await metricsOf(sdkReader);
  const ours = new Map((await prebound.producer.collect()).resourceMetrics.scopeMetrics[0]!.metrics.map((metric) => [metric.descriptor.name, metric]));
  for (const name of ["latency", "hits_total"]) {
    const expected = sdk.get(name)!;
    const actual = ours.get(name)!;
    t.is(actual.dataPointType, expected.dataPointType);
    t.is(actual.aggregationTemporality, expected.aggregationTemporality);
    t.like(actual.descriptor, { name: expected.descriptor.name, unit: expected.descriptor.unit, description: expected.descriptor.description });
    const points = (metric: MetricData) => metric.dataPoints.map((point) => ({ attributes: point.attributes, value: point.value as unknown })).sort((a, b) => String(a.attributes.status).localeCompare(String(b.attributes.status)));
    t.deepEqual(points(actual), points(expected), name);
  }
  t.is(ours.get("latency")!.dataPointType, DataPointType.HISTOGRAM);
  t.is(ours.get("latency")!.dataPoints.length, 1);
  await provider.shutdown();
});

test("an instrument name registered twice in a scope is refused", (t) => {
  const prebound = createPreboundMeter("iir.test");
  prebound.counter("a_total", { description: "" });
  t.throws(() => prebound.histogram("a_total", { description: "", boundaries: [1] }), { message: /registered twice/ });
});
