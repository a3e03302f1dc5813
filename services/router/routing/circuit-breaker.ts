import { Code, ConnectError } from "@connectrpc/connect";
import type { ChatAdapter, ChatTarget } from "../adapters/adapter.js";
import { redactUrl } from "../../common/redact-url.js";
import type { RouteCandidate } from "./resolve-route.js";

/** A breaker's state, as `iir_breaker_state` reports it: 0 closed, 1 half-open, 2 open. */
export const BreakerState = { closed: 0, halfOpen: 1, open: 2 } as const;
export type BreakerState = (typeof BreakerState)[keyof typeof BreakerState];

/** Settings of the router's circuit breakers (IIR_BREAKER_*). */
export interface BreakerSettings {
  /** Consecutive failures that open a closed breaker. */
  readonly failures: number;
  /** The first cooldown; it doubles each time a probe fails, up to maxCooldownMs. */
  readonly cooldownMs: number;
  readonly maxCooldownMs: number;
}

/** A state change, for the log. */
export interface BreakerTransition {
  readonly backend: string;
  readonly from: BreakerState;
  readonly to: BreakerState;
  /** When an open breaker lets a probe through (epoch ms); only when `to` is open. */
  readonly until?: number;
  readonly reason: string;
}

/** What the breakers are built from; `now` is injected so tests control time. */
export interface CircuitBreakersDeps {
  readonly settings: BreakerSettings;
  readonly now?: () => number;
  readonly onTransition?: (transition: BreakerTransition) => void;
}

/** Circuit breakers per backend target, in this router's memory (not yet shared between replicas). */
export interface CircuitBreakers {
  /** Wraps a request's candidates: an open breaker's candidate fails at once with Unavailable, without a call. */
  guard(candidates: RouteCandidate[], signal: AbortSignal): RouteCandidate[];
  /** Every tracked backend and its state, for the gauge. */
  states(): ReadonlyMap<string, BreakerState>;
}

interface Breaker {
  state: BreakerState;
  failures: number;
  /** The cooldown the next opening gets. */
  cooldownMs: number;
  openUntil: number;
  probing: boolean;
}

/** Outcome of one attempt, as a breaker counts it. */
type Outcome = { kind: "success" } | { kind: "neutral" } | { kind: "failure"; retryAfterMs: number | undefined; reason: string };

// Backends are tracked once they fail; the map is capped so targets that come and go cannot grow it without bound.
const maximumTracked = 1000;

/**
 * The breaker's key and label: the agent's id, or provider, base URL (credentials redacted) and
 * upstream model. It names no secret, so it goes into metrics and logs as it is.
 */
export function breakerKey(target: ChatTarget): string {
  if (target.provider === "local") return `agent:${target.backend}`;
  return `${target.provider}:${target.upstreamModel}@${redactUrl(target.baseUrl, "invalid-url")}`;
}

/** Creates the breakers; see {@link CircuitBreakers}. */
export function createCircuitBreakers(deps: CircuitBreakersDeps): CircuitBreakers {
  const now = deps.now ?? Date.now;
  const { failures: threshold, cooldownMs: baseCooldown, maxCooldownMs } = deps.settings;
  const breakers = new Map<string, Breaker>();

  const transition = (backend: string, breaker: Breaker, to: BreakerState, reason: string) => {
    const from = breaker.state;
    breaker.state = to;
    if (from !== to) deps.onTransition?.({ backend, from, to, reason, ...(to === BreakerState.open ? { until: breaker.openUntil } : {}) });
  };

  const tracked = (backend: string): Breaker => {
    let breaker = breakers.get(backend);
    if (breaker !== undefined) return breaker;
    if (breakers.size >= maximumTracked) {
      for (const [key, entry] of breakers) {
        if (entry.state === BreakerState.closed) {
          breakers.delete(key);
          break;
        }
      }
    }
    breaker = { state: BreakerState.closed, failures: 0, cooldownMs: baseCooldown, openUntil: 0, probing: false };
    breakers.set(backend, breaker);
    return breaker;
  };

  /** Whether an attempt may go to the backend now; a half-open breaker lets one probe at a time. */
  const admit = (backend: string): Admission => {
    const breaker = breakers.get(backend);
    if (breaker === undefined || breaker.state === BreakerState.closed) return { admitted: true, probe: false };
    if (breaker.state === BreakerState.open) {
      if (now() < breaker.openUntil) return { admitted: false, why: `open until ${new Date(breaker.openUntil).toISOString()}` };
      transition(backend, breaker, BreakerState.halfOpen, "cooldown over");
    }
    if (breaker.probing) return { admitted: false, why: "a probe request is testing it" };
    breaker.probing = true;
    return { admitted: true, probe: true };
  };

  const record = (backend: string, probe: boolean, outcome: Outcome) => {
    const existing = breakers.get(backend);
    if (probe && existing !== undefined) existing.probing = false;
    if (outcome.kind === "neutral") return;
    if (outcome.kind === "success") {
      if (existing === undefined) return;
      existing.failures = 0;
      existing.cooldownMs = baseCooldown;
      transition(backend, existing, BreakerState.closed, "a request succeeded");
      return;
    }
    const breaker = existing ?? tracked(backend);
    breaker.failures += 1;
    const opens = outcome.retryAfterMs !== undefined || breaker.state === BreakerState.halfOpen || breaker.failures >= threshold;
    if (!opens) return;
    // A provider's retry-after is kept, up to the longest cooldown: a bogus value cannot shut a backend out for days.
    const cooldown = outcome.retryAfterMs === undefined ? breaker.cooldownMs : Math.min(outcome.retryAfterMs, maxCooldownMs);
    breaker.openUntil = now() + cooldown;
    if (outcome.retryAfterMs === undefined) breaker.cooldownMs = Math.min(breaker.cooldownMs * 2, maxCooldownMs);
    transition(backend, breaker, BreakerState.open, outcome.reason);
  };

  return {
    guard(candidates, signal) {
      const skipped: string[] = [];
      return candidates.map((candidate, index) => {
        const backend = breakerKey(candidate.target);
        const refuse = (why: string): ConnectError => {
          skipped.push(`${backend} (${why})`);
          const all = skipped.length === candidates.length && index === candidates.length - 1;
          const message = all
            ? `every backend of this model is failing, its circuit breaker skips it: ${skipped.join("; ")}`
            : `backend ${backend} is skipped: its circuit breaker is ${why}`;
          return new ConnectError(message, Code.Unavailable);
        };
        return { ...candidate, adapter: guardAdapter(candidate.adapter, { backend, signal, admit, record, refuse }) };
      });
    },
    states() {
      return new Map([...breakers].map(([backend, breaker]) => [backend, breaker.state]));
    },
  };
}

type Admission = { readonly admitted: true; readonly probe: boolean } | { readonly admitted: false; readonly why: string };

interface GuardDeps {
  readonly backend: string;
  readonly signal: AbortSignal;
  readonly admit: (backend: string) => Admission;
  readonly record: (backend: string, probe: boolean, outcome: Outcome) => void;
  readonly refuse: (why: string) => ConnectError;
}

function guardAdapter(adapter: ChatAdapter, deps: GuardDeps): ChatAdapter {
  const enter = (): boolean => {
    const admission = deps.admit(deps.backend);
    if (!admission.admitted) throw deps.refuse(admission.why);
    return admission.probe;
  };
  const settle = (probe: boolean, error: unknown) => deps.record(deps.backend, probe, classify(error, deps.signal));
  const guarded: ChatAdapter = {
    async chat(params, target, signal) {
      const probe = enter();
      try {
        const response = await adapter.chat(params, target, signal);
        deps.record(deps.backend, probe, { kind: "success" });
        return response;
      } catch (error) {
        settle(probe, error);
        throw error;
      }
    },
    async *chatStream(params, target, signal) {
      const probe = enter();
      // The first part shows the backend answers; what happens later in the stream is not counted.
      let settled = false;
      try {
        for await (const part of adapter.chatStream(params, target, signal)) {
          if (!settled) {
            settled = true;
            deps.record(deps.backend, probe, { kind: "success" });
          }
          yield part;
        }
        if (!settled) deps.record(deps.backend, probe, { kind: "success" });
        settled = true;
      } catch (error) {
        if (!settled) settle(probe, error);
        settled = true;
        throw error;
      } finally {
        // The consumer stopped before the first part: the probe's slot is given back, nothing is counted.
        if (!settled) deps.record(deps.backend, probe, { kind: "neutral" });
      }
    },
  };
  // Not calls to a model: they pass as they are.
  if (adapter.countTokens !== undefined) guarded.countTokens = adapter.countTokens.bind(adapter);
  if (adapter.listModels !== undefined) guarded.listModels = adapter.listModels.bind(adapter);
  const embed = adapter.embed;
  if (embed !== undefined) {
    guarded.embed = async (request, target, signal) => {
      const probe = enter();
      try {
        const response = await embed.call(adapter, request, target, signal);
        deps.record(deps.backend, probe, { kind: "success" });
        return response;
      } catch (error) {
        settle(probe, error);
        throw error;
      }
    };
  }
  return guarded;
}

/**
 * Failures of the backend count (it is down, slow or overloaded); anything else it answered shows it
 * is up; the client's own cancellation says nothing about it.
 */
function classify(error: unknown, signal: AbortSignal): Outcome {
  if (signal.aborted) return { kind: "neutral" };
  const connectError = ConnectError.from(error);
  switch (connectError.code) {
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      // The code only: an upstream's message may quote what it was sent.
      return { kind: "failure", retryAfterMs: undefined, reason: Code[connectError.code] };
    case Code.ResourceExhausted: {
      const retryAfterMs = parseRetryAfter(connectError.metadata.get("retry-after"));
      return { kind: "failure", retryAfterMs, reason: retryAfterMs === undefined ? "rate limited" : `rate limited: retry-after ${Math.ceil(retryAfterMs / 1000)} s` };
    }
    case Code.Canceled:
      return { kind: "neutral" };
    default:
      return { kind: "success" };
  }
}

/** Milliseconds a `retry-after` value asks to wait (seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds > 0 ? seconds * 1000 : undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) || at <= now ? undefined : at - now;
}
