import { SpanKind, type Span } from "@opentelemetry/api";
import { createContextKey, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { ChatParams, InferenceService } from "../../../gen/iir/inference/v1/inference_pb.js";
import { observeIterable } from "./observe-iterable.js";
import { chatOperation, chatSpanName, createAnswerRecorder, genAi, recordSpanError } from "./genai.js";
import type { Tracing } from "./tracing.js";

/** The span of the call being handled, for spans of the work it starts (the router's adapter calls). */
export const serverSpanKey = createContextKey<Span | undefined>(undefined, { description: "iir.server-span" });

/** Which service the spans belong to. */
export interface TracedServiceOptions {
  /** Instrumentation scope: iir.router, iir.agent. */
  readonly scope: string;
  /** `gen_ai.provider.name` when the service itself is the provider (an agent: local). */
  readonly provider?: string;
}

/**
 * Wraps an InferenceService so that each Chat and ChatStream call is one SERVER span, a child of
 * the `traceparent` the caller sent, carrying the GenAI attributes of the request and its answer.
 */
export function traceInferenceService(
  service: ServiceImpl<typeof InferenceService>,
  tracing: Tracing,
  options: TracedServiceOptions,
): ServiceImpl<typeof InferenceService> {
  const begin = (params: ChatParams | undefined, context: HandlerContext): Span => {
    const attributes: Record<string, string> = { [genAi.operationName]: chatOperation };
    if (params?.model) attributes[genAi.requestModel] = params.model;
    if (options.provider !== undefined) attributes[genAi.providerName] = options.provider;
    const span = tracing.startSpan(options.scope, chatSpanName(params?.model), SpanKind.SERVER, attributes, tracing.extract(context.requestHeader));
    context.values.set(serverSpanKey, span);
    return span;
  };
  return {
    ...service,
    async chat(request, context) {
      const span = begin(request.params, context);
      const recorder = createAnswerRecorder(span);
      try {
        const response = await service.chat(request, context);
        recorder.response(response);
        recorder.finish();
        return response;
      } catch (error) {
        recordSpanError(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
    chatStream(request, context) {
      const span = begin(request.params, context);
      const recorder = createAnswerRecorder(span);
      return observeIterable(service.chatStream(request, context), {
        value: (part) => recorder.part(part),
        failed(error) {
          recordSpanError(span, error);
          return error;
        },
        end() {
          recorder.finish();
          span.end();
        },
      });
    },
  };
}
