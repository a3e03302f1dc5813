import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import { createMetrics, type Metrics } from "./metrics.js";
import { createTracing, type Tracing } from "./tracing.js";

/** A process's metrics and traces, created once at start-up and passed to every service in it. */
export interface Telemetry {
  readonly metrics: Metrics;
  /** Undefined unless spans are exported somewhere: then tracing costs nothing. */
  readonly tracing: Tracing | undefined;
  /** Exports what is left and stops; never rejects (an unreachable collector only loses spans). */
  shutdown(): Promise<void>;
}

/** What a process's telemetry is built from. */
export interface TelemetryOptions {
  /** `service.name` of the process: iir, iir-router, iir-facade, iir-agent. */
  readonly serviceName: string;
  /** OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT); spans are posted to `<endpoint>/v1/traces`. */
  readonly otlpEndpoint?: string;
  /** Where spans go instead, each as it ends (tests: an InMemorySpanExporter). */
  readonly spanExporter?: SpanExporter;
}

/** Builds the process's one MeterProvider and, when spans have somewhere to go, its tracer provider. */
export async function createTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  const metrics = createMetrics({ serviceName: options.serviceName });
  const tracing = await createTracingFor(options);
  return {
    metrics,
    tracing,
    async shutdown() {
      // A collector that cannot be reached loses the last spans; it must not fail the process's exit.
      await Promise.allSettled([metrics.shutdown(), tracing?.shutdown()]);
    },
  };
}

const exportTimeoutMs = 2000;

async function createTracingFor(options: TelemetryOptions): Promise<Tracing | undefined> {
  if (options.spanExporter !== undefined) {
    return createTracing({ serviceName: options.serviceName, exporter: options.spanExporter, exportEachSpan: true });
  }
  if (options.otlpEndpoint === undefined) return undefined;
  // Loaded only when used: the OTLP exporter pulls in a good deal of code a process without tracing never needs.
  const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
  // A bounded export: a collector that is down must not hold a shutting-down process for long.
  const exporter = new OTLPTraceExporter({ url: `${options.otlpEndpoint}/v1/traces`, timeoutMillis: exportTimeoutMs });
  return createTracing({ serviceName: options.serviceName, exporter });
}
