import type { IncomingHttpHeaders } from "node:http";
import { ROOT_CONTEXT, trace, type Attributes, type Context, type Span, type SpanKind, type TextMapGetter, type Tracer } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base";

/** Headers a span's W3C trace context travels in to the next hop (`traceparent`, `tracestate`). */
export type TraceHeaders = Readonly<Record<string, string>>;

/**
 * Traces for one process. It exists only when spans are exported somewhere: without it no tracer
 * provider is built, no span is started and no header is read or written.
 */
export interface Tracing {
  /**
   * Starts a span of `scope` (iir.facade, iir.router, iir.agent). Its parent is a span, or the trace
   * context an incoming request carried; without one the span starts a new trace.
   */
  startSpan(scope: string, name: string, kind: SpanKind, attributes: Attributes, parent?: Span | Context): Span;
  /** The trace context an incoming request carried: a Connect call's headers or an HTTP request's. */
  extract(headers: Headers | IncomingHttpHeaders): Context;
  /** Headers that make the next hop's spans children of `span`. */
  headersFor(span: Span): TraceHeaders;
  /** Exports every ended span now. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** Where spans go, and how. */
export interface TracingOptions {
  readonly serviceName: string;
  readonly exporter: SpanExporter;
  /**
   * Export each span as it ends (tests with an in-memory exporter) instead of in batches
   * (a collector over the network).
   */
  readonly exportEachSpan?: boolean;
}

const fetchHeadersGetter: TextMapGetter<Headers> = {
  get: (carrier, key) => carrier.get(key) ?? undefined,
  keys: (carrier) => [...carrier.keys()],
};

const nodeHeadersGetter: TextMapGetter<IncomingHttpHeaders> = {
  get: (carrier, key) => carrier[key],
  keys: (carrier) => Object.keys(carrier),
};

/**
 * A tracer provider of our own, never registered as OpenTelemetry's global: contexts are passed
 * explicitly from span to span and hop to hop, so no context manager (async hooks) runs.
 */
export function createTracing(options: TracingOptions): Tracing {
  const processor = options.exportEachSpan ? new SimpleSpanProcessor(options.exporter) : new BatchSpanProcessor(options.exporter);
  const provider = new BasicTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ "service.name": options.serviceName })),
    spanProcessors: [processor],
  });
  const tracers = new Map<string, Tracer>();
  const tracerFor = (scope: string) => {
    let tracer = tracers.get(scope);
    if (tracer === undefined) {
      tracer = provider.getTracer(scope);
      tracers.set(scope, tracer);
    }
    return tracer;
  };
  const propagator = new W3CTraceContextPropagator();
  return {
    startSpan(scope, name, kind, attributes, parent) {
      const context = parent === undefined ? ROOT_CONTEXT : isSpan(parent) ? trace.setSpan(ROOT_CONTEXT, parent) : parent;
      return tracerFor(scope).startSpan(name, { kind, attributes }, context);
    },
    extract(headers) {
      return headers instanceof Headers
        ? propagator.extract(ROOT_CONTEXT, headers, fetchHeadersGetter)
        : propagator.extract(ROOT_CONTEXT, headers, nodeHeadersGetter);
    },
    headersFor(span) {
      const headers: Record<string, string> = {};
      propagator.inject(trace.setSpan(ROOT_CONTEXT, span), headers, { set: (carrier, key, value) => (carrier[key] = value) });
      return headers;
    },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

function isSpan(parent: Span | Context): parent is Span {
  return typeof (parent as Span).spanContext === "function";
}
