import type { Counter, Meter } from "@opentelemetry/api";
import type { AgentDirectory } from "../agents/agent-directory.js";

/** The router's own instruments. */
export interface RouterMetrics {
  /** Failed backend attempts, by backend and Connect code (`iir_backend_errors_total`). */
  readonly backendErrors: Counter;
}

// Agents once seen live are reported as down after they go stale; the set is capped so agent ids
// that come and go (host-port names of restarted agents) cannot grow it without bound.
const maximumRememberedAgents = 1000;

/**
 * Creates the router's instruments, the breaker gauge (`iir_breaker_state` per backend), and the agent gauges (`iir_agent_up`, `iir_agent_queue_length`
 * per agent id), which read the agent directory only when scraped.
 */
export function createRouterMetrics(
  meter: Meter,
  agents: Pick<AgentDirectory, "liveModels">,
  /** Each tracked backend's breaker state (0 closed, 1 half-open, 2 open), for `iir_breaker_state`; absent: not reported. */
  breakerStates?: () => ReadonlyMap<string, number>,
): RouterMetrics {
  const backendErrors = meter.createCounter("iir_backend_errors_total", {
    description: "Backend attempts that failed (the request may still have succeeded on a fallback)",
  });
  const up = meter.createObservableGauge("iir_agent_up", { description: "1 while an agent beats, 0 once it went stale or left" });
  const queueLength = meter.createObservableGauge("iir_agent_queue_length", { description: "Requests waiting in an agent's queue, from its latest heartbeat" });
  const remembered = new Set<string>();
  meter.addBatchObservableCallback(
    (observer) => {
      const queues = new Map<string, number>();
      for (const live of agents.liveModels().values()) for (const agent of live) queues.set(agent.id, agent.load?.queueLength ?? 0);
      for (const id of queues.keys()) {
        if (remembered.has(id) || remembered.size < maximumRememberedAgents) remembered.add(id);
      }
      for (const id of remembered) {
        const queue = queues.get(id);
        observer.observe(up, queue === undefined ? 0 : 1, { agent: id });
        if (queue !== undefined) observer.observe(queueLength, queue, { agent: id });
      }
    },
    [up, queueLength],
  );
  if (breakerStates !== undefined) {
    meter
      .createObservableGauge("iir_breaker_state", { description: "Circuit breaker of a backend: 0 closed, 1 half-open (one probe at a time), 2 open (skipped)" })
      .addCallback((observer) => {
        for (const [backend, state] of breakerStates()) observer.observe(state, { backend });
      });
  }
  return { backendErrors };
}
