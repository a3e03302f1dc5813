import type { IncomingMessage, ServerResponse } from "node:http";
import type { Meter } from "@opentelemetry/api";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider } from "@opentelemetry/sdk-metrics";

/** The process's one MeterProvider, read by Prometheus scrapes. */
export interface Metrics {
  /** A meter for one component: iir.facade, iir.router. */
  meter(scope: string): Meter;
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
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  const provider = new MeterProvider({
    resource: defaultResource().merge(resourceFromAttributes({ "service.name": options.serviceName })),
    readers: [exporter],
  });
  return {
    meter: (scope) => provider.getMeter(scope),
    handleScrape: (request, response) => exporter.getMetricsRequestHandler(request, response),
    shutdown: () => provider.shutdown(),
  };
}
