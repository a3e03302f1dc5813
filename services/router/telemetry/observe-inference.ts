import { ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { InferenceService } from "../../../gen/iir/inference/v1/inference_pb.js";
import { backendWaitTrailer, modelLabelHeader, otherModelLabel } from "../../common/telemetry/mesh-headers.js";
import { observeIterable } from "../../common/telemetry/observe-iterable.js";
import { traceInferenceService } from "../../common/telemetry/traced-inference-service.js";
import type { Tracing } from "../../common/telemetry/tracing.js";
import { backendWaitKey, type BackendWait } from "./instrument-candidates.js";

/** What the router's observed InferenceService needs. */
export interface ObserveInferenceDeps {
  /** Whether a model name is the registry's or an agent's (and so may be a metric label). */
  readonly isKnownModel: (model: string) => boolean;
  readonly tracing?: Tracing;
}

/**
 * Wraps the router's InferenceService: each call tells its caller the model's metric label (a
 * response header) and how long it waited on backends (a trailer), and, with tracing, is a span.
 * On an error both travel in the error's metadata, which reaches the caller on every transport.
 */
export function observeInferenceService(service: ServiceImpl<typeof InferenceService>, deps: ObserveInferenceDeps): ServiceImpl<typeof InferenceService> {
  const begin = (model: string | undefined, context: HandlerContext): BackendWait => {
    context.responseHeader.set(modelLabelHeader, model !== undefined && deps.isKnownModel(model) ? model : otherModelLabel);
    const wait: BackendWait = { ms: 0 };
    context.values.set(backendWaitKey, wait);
    return wait;
  };
  const end = (wait: BackendWait, context: HandlerContext) => context.responseTrailer.set(backendWaitTrailer, wait.ms.toFixed(3));
  // Sent once, in the error: a header or trailer of the same name as well would reach gRPC clients
  // twice. A stream that already sent parts already sent its headers.
  const failed = (error: unknown, context: HandlerContext, headerSent: boolean): unknown => {
    if (!(error instanceof ConnectError)) return error;
    const names = headerSent ? [backendWaitTrailer] : [modelLabelHeader, backendWaitTrailer];
    for (const name of names) {
      const value = context.responseHeader.get(name) ?? context.responseTrailer.get(name);
      if (value !== null && !error.metadata.has(name)) error.metadata.set(name, value);
    }
    if (!headerSent) context.responseHeader.delete(modelLabelHeader);
    context.responseTrailer.delete(backendWaitTrailer);
    return error;
  };
  const observed: ServiceImpl<typeof InferenceService> = {
    ...service,
    async chat(request, context) {
      const wait = begin(request.params?.model, context);
      try {
        const response = await service.chat(request, context);
        end(wait, context);
        return response;
      } catch (error) {
        end(wait, context);
        throw failed(error, context, false);
      }
    },
    chatStream(request, context) {
      const wait = begin(request.params?.model, context);
      let started = false;
      return observeIterable(service.chatStream(request, context), {
        value() {
          started = true;
        },
        done: () => end(wait, context),
        failed(error) {
          end(wait, context);
          return failed(error, context, started);
        },
      });
    },
  };
  return deps.tracing === undefined ? observed : traceInferenceService(observed, deps.tracing, { scope: "iir.router" });
}
