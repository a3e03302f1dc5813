import type { ServiceImpl } from "@connectrpc/connect";
import type { InferenceService } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { Telemetry } from "../../common/telemetry/telemetry.js";
import type { AgentDirectory } from "../agents/agent-directory.js";
import { createCandidateInstrumentation, type CandidateInstrumentation } from "./instrument-candidates.js";
import { observeInferenceService } from "./observe-inference.js";
import { createRouterMetrics } from "./router-metrics.js";

/** How the router's InferenceService is measured: around the whole call, and around each attempt. */
export interface RouterObservation {
  /** Give to createInferenceService as `instrument`. */
  readonly instrument: CandidateInstrumentation;
  /** Wraps the finished InferenceService. */
  observe(service: ServiceImpl<typeof InferenceService>): ServiceImpl<typeof InferenceService>;
}

/** Builds the router's instruments (once per router) on the process's telemetry, if it has any. */
export function createRouterObservation(deps: {
  readonly telemetry: Telemetry | undefined;
  readonly agents: AgentDirectory;
  /** Whether a model name is the registry's or an agent's. */
  readonly isKnownModel: (model: string) => boolean;
  /** Breaker states by backend, for `iir_breaker_state`; absent: not reported. */
  readonly breakerStates?: () => ReadonlyMap<string, number>;
}): RouterObservation {
  const tracing = deps.telemetry?.tracing;
  const metrics = deps.telemetry === undefined ? undefined : createRouterMetrics(deps.telemetry.metrics.meter("iir.router"), deps.agents, deps.breakerStates);
  return {
    instrument: createCandidateInstrumentation({ tracing, metrics }),
    observe: (service) => observeInferenceService(service, { isKnownModel: deps.isKnownModel, tracing }),
  };
}
