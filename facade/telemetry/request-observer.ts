import { SpanKind, SpanStatusCode, type Span } from "@opentelemetry/api";
import type { IncomingMessage } from "node:http";
import { chatOperation, chatSpanName, genAi } from "../../services/common/telemetry/genai.js";
import type { Tracing } from "../../services/common/telemetry/tracing.js";
import type { RequestFacts } from "../app.js";
import type { RequestOutcome } from "../request-log.js";
import type { FacadeMetrics } from "./facade-metrics.js";

/** Metrics and traces of the facade's requests. */
export interface RequestObserver {
  /** Called as a request for `path` arrives; the function it returns is called once, when the response closes. */
  begin(request: RoutedRequest, facts: RequestFacts, path: string): (outcome: RequestOutcome) => void;
}

/** A request as the observer sees it: express's matched route, when express routed it. */
type RoutedRequest = IncomingMessage & { route?: unknown };

/**
 * Records chat completion metrics from the request's facts when it ends. With tracing, every /v1
 * request is a SERVER span (continuing a `traceparent` the client sent), whose context the chat
 * route passes to the router in `facts.traceHeaders`; without it nothing of tracing runs.
 */
export function createRequestObserver(deps: { metrics?: FacadeMetrics; tracing?: Tracing }): RequestObserver {
  const record = (facts: RequestFacts, outcome: RequestOutcome) => {
    if (isChatCompletion(outcome)) deps.metrics?.record(facts, outcome);
  };
  return {
    begin(request, facts, path) {
      const tracing = deps.tracing;
      if (tracing === undefined || !path.startsWith("/v1/")) return (outcome) => record(facts, outcome);
      const span = tracing.startSpan(
        "iir.facade",
        request.method ?? "GET",
        SpanKind.SERVER,
        { "http.request.method": request.method, "url.path": path, "iir.request_id": facts.requestId },
        tracing.extract(request.headers),
      );
      facts.traceHeaders = tracing.headersFor(span);
      facts.traceId = span.spanContext().traceId;
      return (outcome) => {
        record(facts, outcome);
        endSpan(span, facts, outcome, request);
      };
    },
  };
}

function endSpan(span: Span, facts: RequestFacts, outcome: RequestOutcome, request: RoutedRequest): void {
  if (facts.model !== undefined) {
    span.updateName(chatSpanName(facts.model));
    span.setAttributes({ [genAi.operationName]: chatOperation, [genAi.requestModel]: facts.model });
  } else {
    // A route template, never the raw path: span names must not grow with ids in URLs.
    const route = (request.route as { path?: unknown } | undefined)?.path;
    span.updateName(typeof route === "string" ? `${outcome.method} ${route}` : outcome.method);
  }
  span.setAttribute("http.response.status_code", outcome.status);
  if (facts.backend) span.setAttribute("iir.backend", facts.backend);
  if (facts.cache !== undefined) span.setAttribute("iir.cache", facts.cache);
  if (facts.promptTokens !== undefined) span.setAttribute(genAi.inputTokens, facts.promptTokens);
  if (facts.completionTokens !== undefined) span.setAttribute(genAi.outputTokens, facts.completionTokens);
  if (facts.errorType !== undefined) span.setAttribute(genAi.errorType, facts.errorType);
  // HTTP server spans: a 4xx is the client's mistake, not a failure of the server.
  if (outcome.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: facts.errorType ?? String(outcome.status) });
  span.end();
}

/** Only chat completions are GenAI requests; other routes get the request log and (with tracing) a span. */
function isChatCompletion(outcome: RequestOutcome): boolean {
  return outcome.method === "POST" && (outcome.path === "/v1/chat/completions" || outcome.path === "/v1/chat/completions/");
}
