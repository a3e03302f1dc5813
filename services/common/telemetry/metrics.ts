import type { IncomingMessage, ServerResponse } from "node:http";
import type { Meter } from "@opentelemetry/api";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { defaultResource, emptyResource, resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider, type CollectionResult, type MetricProducer } from "@opentelemetry/sdk-metrics";
import { createPreboundMeter, type PreboundMeter } from "./bound-instruments.js";

/** The process's one MeterProvider, read by Prometheus scrapes. */
export interface Metrics {
  /** A meter for one component: iir.facade, iir.router. */
  meter(scope: string): Meter;
  /** Pre-bound instruments for a per-request hot path (bound-instruments.ts), read by the same scrapes. */
  prebound(scope: string): PreboundMeter;
  /** Answers a scrape with the Prometheus text format (mount it at `GET /metrics`). */
  readonly handleScrape: (request: IncomingMessage, response: ServerResponse) => void;
  shutdown(): Promise<void>;
}

/**
 * A MeterProvider whose only reader is a Prometheus exporter that never starts a server of its
 * own: scrapes reach it through the facade's `/metrics` route or the router's metrics port.
 */
export function createMetrics(options: { serviceName: string }): Metrics {
  // Scope labels would add otel_scope_* to every series for nothing: one process, a few meters.
  const producers: MetricProducer[] = [];
  const prebound: MetricProducer = {
    async collect(options): Promise<CollectionResult> {
      const results = await Promise.all(producers.map((producer) => producer.collect(options)));
      return {
        resourceMetrics: { resource: emptyResource(), scopeMetrics: results.flatMap((result) => result.resourceMetrics.scopeMetrics) },
        errors: results.flatMap((result) => result.errors),
      };
    },
  };
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, metricProducers: [prebound] });
  const provider = new MeterProvider({
    resource: defaultResource().merge(resourceFromAttributes({ "service.name": options.serviceName })),
    readers: [exporter],
  });
  return {
    meter: (scope) => provider.getMeter(scope),
    prebound(scope) {
      const meter = createPreboundMeter(scope);
      producers.push(meter.producer);
      return meter;
    },
    handleScrape: (request, response) => exporter.getMetricsRequestHandler(request, response),
    shutdown: () => provider.shutdown(),
  };
}
