import { Code, ConnectError } from "@connectrpc/connect";
import type { ChatAdapter, ChatTarget } from "../adapters/adapter.js";
import { redactUrl } from "../../common/redact-url.js";
import type { RouteCandidate } from "./resolve-route.js";
import { isRetryBudgetExhausted } from "./retry-budget.js";
import { createSlidingWindow, type SlidingWindow } from "./sliding-window.js";

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
  /** Failure rate (percent) over the window that opens a breaker besides consecutive failures; 0: off. */
  readonly failureRatePercent?: number;
  /** Attempts the window must hold before the rate counts. */
  readonly failureRateMinimum?: number;
  readonly failureRateWindowMs?: number;
}

/** An opening or closing, as replicas tell each other through a {@link BreakerShare}. */
export type BreakerEvent =
  | { readonly kind: "open"; readonly backend: string; readonly until: number; readonly cooldownMs: number; readonly reason: string }
  | { readonly kind: "closed"; readonly backend: string };

/**
 * How breakers are shared between router replicas (shared-breakers.ts: Redis). The in-memory breaker
 * stays the hot path: only openings, closings and probes touch the share, and none of it may fail a request.
 */
export interface BreakerShare {
  /** Tells the other replicas of an opening or closing seen here; never throws, never awaited. */
  publish(event: BreakerEvent): void;
  /** Claims the one probe across replicas for `leaseMs`; true also when the share cannot be reached. */
  claimProbe(backend: string, leaseMs: number): Promise<boolean>;
  /** Gives the claim back once the probe settled. */
  releaseProbe(backend: string): void;
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
  /** Shares openings, closings and the probe with other router replicas; absent: this router's memory only. */
  readonly share?: BreakerShare;
}

/** Circuit breakers per backend target, in this router's memory, mirrored from other replicas through a {@link BreakerShare}. */
export interface CircuitBreakers {
  /** Wraps a request's candidates: an open breaker's candidate fails at once with Unavailable, without a call. */
  guard(candidates: RouteCandidate[], signal: AbortSignal): RouteCandidate[];
  /** Every tracked backend and its state, for the gauge. */
  states(): ReadonlyMap<string, BreakerState>;
  /** Applies what another replica saw (an opening, a closing) without telling the share again. */
  mirror(event: BreakerEvent): void;
}

interface Breaker {
  state: BreakerState;
  failures: number;
  /** The cooldown the next opening gets. */
  cooldownMs: number;
  openUntil: number;
  probing: boolean;
  /** Attempts and failures over the failure-rate window; absent when that trigger is off. */
  window: SlidingWindow<"attempts" | "failures"> | undefined;
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
  const key = `${target.provider}:${target.upstreamModel}@${redactUrl(target.baseUrl, "invalid-url")}`;
  // A deployment named on its own (two keys for one endpoint and model) is a backend of its own.
  const named = target.backend !== target.provider && target.backend !== `${target.provider}/${target.upstreamModel}`;
  return named ? `${key}#${target.backend}` : key;
}

/** Creates the breakers; see {@link CircuitBreakers}. */
export function createCircuitBreakers(deps: CircuitBreakersDeps): CircuitBreakers {
  const now = deps.now ?? Date.now;
  const { failures: threshold, cooldownMs: baseCooldown, maxCooldownMs } = deps.settings;
  const breakers = new Map<string, Breaker>();
  const ratePercent = deps.settings.failureRatePercent ?? 0;
  const rateMinimum = deps.settings.failureRateMinimum ?? 20;
  const newWindow = () => (ratePercent > 0 ? createSlidingWindow(["attempts", "failures"] as const, deps.settings.failureRateWindowMs ?? 30_000) : undefined);
  const rateExceeded = (breaker: Breaker, at: number): boolean => {
    if (breaker.window === undefined) return false;
    const attempts = breaker.window.count("attempts", at);
    return attempts >= rateMinimum && breaker.window.count("failures", at) * 100 >= attempts * ratePercent;
  };

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
    breaker = { state: BreakerState.closed, failures: 0, cooldownMs: baseCooldown, openUntil: 0, probing: false, window: newWindow() };
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
    if (probe) deps.share?.releaseProbe(backend);
    if (outcome.kind === "neutral") return;
    const at = now();
    if (outcome.kind === "success") {
      if (existing === undefined) return;
      existing.window?.add("attempts", at);
      existing.failures = 0;
      existing.cooldownMs = baseCooldown;
      if (existing.state === BreakerState.closed) return;
      // Failures from before the outage ended must not reopen it at the next one.
      existing.window = newWindow();
      transition(backend, existing, BreakerState.closed, "a request succeeded");
      deps.share?.publish({ kind: "closed", backend });
      return;
    }
    const breaker = existing ?? tracked(backend);
    breaker.failures += 1;
    breaker.window?.add("attempts", at);
    breaker.window?.add("failures", at);
    const tripped = breaker.failures >= threshold || rateExceeded(breaker, at);
    const opens = outcome.retryAfterMs !== undefined || breaker.state === BreakerState.halfOpen || (breaker.state === BreakerState.closed && tripped);
    if (!opens) return;
    // A provider's retry-after is kept, up to the longest cooldown: a bogus value cannot shut a backend out for days.
    const cooldown = outcome.retryAfterMs === undefined ? breaker.cooldownMs : Math.min(outcome.retryAfterMs, maxCooldownMs);
    breaker.openUntil = at + cooldown;
    if (outcome.retryAfterMs === undefined) breaker.cooldownMs = Math.min(breaker.cooldownMs * 2, maxCooldownMs);
    const reason = breaker.failures >= threshold || outcome.retryAfterMs !== undefined || breaker.state === BreakerState.halfOpen ? outcome.reason : `${outcome.reason}; failure rate over ${ratePercent}%`;
    transition(backend, breaker, BreakerState.open, reason);
    deps.share?.publish({ kind: "open", backend, until: breaker.openUntil, cooldownMs: breaker.cooldownMs, reason });
  };

  /** After a local half-open admission: the probe is this replica's only if no other replica claimed it. */
  const claim = async (backend: string): Promise<Admission> => {
    const share = deps.share;
    if (share === undefined || (await share.claimProbe(backend, maxCooldownMs))) return { admitted: true, probe: true };
    const breaker = breakers.get(backend);
    if (breaker !== undefined) breaker.probing = false;
    return { admitted: false, why: "a probe request from another router replica is testing it" };
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
        return { ...candidate, adapter: guardAdapter(candidate.adapter, { backend, signal, admit, claim, record, refuse }) };
      });
    },
    states() {
      return new Map([...breakers].map(([backend, breaker]) => [backend, breaker.state]));
    },
    mirror(event) {
      if (event.kind === "closed") {
        const breaker = breakers.get(event.backend);
        if (breaker === undefined || breaker.state === BreakerState.closed) return;
        Object.assign(breaker, { failures: 0, cooldownMs: baseCooldown, window: newWindow() });
        transition(event.backend, breaker, BreakerState.closed, "another router replica saw it answer");
        return;
      }
      const breaker = tracked(event.backend);
      if (breaker.state === BreakerState.open && breaker.openUntil >= Math.min(event.until, now() + maxCooldownMs)) return;
      // Another replica's word holds no longer than this router's own longest cooldown.
      breaker.openUntil = Math.min(event.until, now() + maxCooldownMs);
      breaker.cooldownMs = Math.min(Math.max(breaker.cooldownMs, event.cooldownMs), maxCooldownMs);
      // From half-open as well: the other replica's probe failed. Already open: only the time moves.
      transition(event.backend, breaker, BreakerState.open, `another router replica opened it: ${event.reason}`);
    },
  };
}

type Admission = { readonly admitted: true; readonly probe: boolean } | { readonly admitted: false; readonly why: string };

interface GuardDeps {
  readonly backend: string;
  readonly signal: AbortSignal;
  readonly admit: (backend: string) => Admission;
  readonly claim: (backend: string) => Promise<Admission>;
  readonly record: (backend: string, probe: boolean, outcome: Outcome) => void;
  readonly refuse: (why: string) => ConnectError;
}

function guardAdapter(adapter: ChatAdapter, deps: GuardDeps): ChatAdapter {
  // Only a probe waits (for the claim across replicas); every other request is admitted in memory.
  const enter = async (): Promise<boolean> => {
    let admission = deps.admit(deps.backend);
    if (admission.admitted && admission.probe) admission = await deps.claim(deps.backend);
    if (!admission.admitted) throw deps.refuse(admission.why);
    return admission.probe;
  };
  const settle = (probe: boolean, error: unknown) => deps.record(deps.backend, probe, classify(error, deps.signal));
  const guarded: ChatAdapter = {
    async chat(params, target, signal) {
      const probe = await enter();
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
      const probe = await enter();
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
      const probe = await enter();
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
  // Refused by the retry budget: the backend was never called.
  if (signal.aborted || isRetryBudgetExhausted(error)) return { kind: "neutral" };
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
