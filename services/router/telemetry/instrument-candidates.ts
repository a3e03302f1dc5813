import { SpanKind, type Span } from "@opentelemetry/api";
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { ChatAdapter, ChatTarget } from "../adapters/adapter.js";
import type { RouteCandidate } from "../routing/resolve-route.js";
import { chatOperation, chatSpanName, createAnswerRecorder, errorTypeOf, genAi, recordSpanError, type AnswerRecorder } from "../../common/telemetry/genai.js";
import { observeIterable } from "../../common/telemetry/observe-iterable.js";
import { serverSpanKey } from "../../common/telemetry/traced-inference-service.js";
import type { Tracing } from "../../common/telemetry/tracing.js";
import type { RouterMetrics } from "./router-metrics.js";

/** Milliseconds one request spent waiting on backends, summed over its attempts. */
export interface BackendWait {
  ms: number;
}

/** The current request's BackendWait, set by the observed InferenceService. */
export const backendWaitKey = createContextKey<BackendWait | undefined>(undefined, { description: "iir.backend-wait" });

/** What attempts are measured with; both optional, as a router may run without either. */
export interface CandidateInstrumentationDeps {
  readonly tracing?: Tracing;
  readonly metrics?: RouterMetrics;
}

/** Wraps a request's candidates so that each adapter call is timed, counted when it fails, and traced. */
export type CandidateInstrumentation = (candidates: RouteCandidate[], context: HandlerContext) => RouteCandidate[];

interface RequestState {
  readonly wait: BackendWait | undefined;
  readonly parent: Span | undefined;
  readonly deps: CandidateInstrumentationDeps;
}

/**
 * Each attempt is a CLIENT span (child of the router's span) whose trace context the adapter sends
 * on in `target.headers`; its time from call to last part adds to the request's backend wait.
 */
export function createCandidateInstrumentation(deps: CandidateInstrumentationDeps): CandidateInstrumentation {
  return (candidates, context) => {
    const state: RequestState = { wait: context.values.get(backendWaitKey), parent: context.values.get(serverSpanKey), deps };
    return candidates.map((candidate) => ({ ...candidate, adapter: instrumentAdapter(candidate.adapter, state) }));
  };
}

function instrumentAdapter(adapter: ChatAdapter, state: RequestState): ChatAdapter {
  return {
    async chat(params, target, signal) {
      const attempt = beginAttempt(target, state);
      try {
        const response = await adapter.chat(params, attempt.target, signal);
        attempt.recorder?.response(response);
        return response;
      } catch (error) {
        attempt.failed(error, signal);
        throw error;
      } finally {
        attempt.end(performance.now());
      }
    },
    chatStream(params, target, signal) {
      const attempt = beginAttempt(target, state);
      let lastPartAt: number | undefined;
      let completed = false;
      return observeIterable(adapter.chatStream(params, attempt.target, signal), {
        value(part) {
          lastPartAt = performance.now();
          attempt.recorder?.part(part);
        },
        done() {
          completed = true;
        },
        failed(error) {
          attempt.failed(error, signal);
          return error;
        },
        // The wait ends at the backend's last part: time the caller took to consume parts after it is not the backend's.
        end: () => attempt.end(completed && lastPartAt !== undefined ? lastPartAt : performance.now()),
      });
    },
  };
}

interface Attempt {
  readonly target: ChatTarget;
  readonly recorder: AnswerRecorder | undefined;
  failed(error: unknown, signal: AbortSignal): void;
  end(at: number): void;
}

function beginAttempt(target: ChatTarget, state: RequestState): Attempt {
  const startedAt = performance.now();
  const tracing = state.deps.tracing;
  const span = tracing?.startSpan(
    "iir.router",
    chatSpanName(target.upstreamModel),
    SpanKind.CLIENT,
    {
      [genAi.operationName]: chatOperation,
      [genAi.requestModel]: target.upstreamModel,
      [genAi.providerName]: target.provider,
      "iir.backend": target.backend,
    },
    state.parent,
  );
  const traced = span === undefined || tracing === undefined ? target : { ...target, headers: { ...target.headers, ...tracing.headersFor(span) } };
  const recorder = span === undefined ? undefined : createAnswerRecorder(span);
  return {
    target: traced,
    recorder,
    failed(error, signal) {
      if (span !== undefined) recordSpanError(span, error);
      // A client that went away is not a backend failing.
      if (!signal.aborted) state.deps.metrics?.backendErrors.add(1, { backend: target.backend, code: errorTypeOf(error) });
    },
    end(at) {
      if (state.wait !== undefined) state.wait.ms += at - startedAt;
      recorder?.finish();
      span?.end();
    },
  };
}
