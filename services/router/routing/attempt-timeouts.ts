import { Code, ConnectError } from "@connectrpc/connect";
import type { ChatStreamResponse } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { ChatAdapter, ChatTarget } from "../adapters/adapter.js";
import type { RouteCandidate } from "./resolve-route.js";

/** How long one request's attempts may take; 0 turns a limit off. */
export interface AttemptLimits {
  /** From the call to a stream's first part (IIR_TTFT_TIMEOUT, or the model's `ttft_timeout_ms`). */
  readonly firstTokenMs: number;
  /** Between two parts of a stream once it has begun (IIR_STREAM_IDLE_TIMEOUT). */
  readonly streamIdleMs: number;
  /** When the whole request must be over, every attempt included (epoch ms, from IIR_REQUEST_TIMEOUT); undefined: never. */
  readonly deadline: number | undefined;
}

type Expiry = "first-token" | "idle" | "deadline";

/**
 * Wraps a request's candidates so each attempt runs under its own AbortController, linked to the
 * request's signal: a backend that sends no first part in time, stalls mid-stream or outlives the
 * request's deadline is aborted (its socket released) and the attempt fails with DeadlineExceeded,
 * which breakers count as the backend's failure and the attempt loop moves past while nothing reached
 * the client. Unary calls have no first token to wait for: only the deadline bounds them.
 */
export function withAttemptTimeouts(candidates: RouteCandidate[], limits: AttemptLimits, clock: () => number = Date.now): RouteCandidate[] {
  const off = limits.firstTokenMs <= 0 && limits.streamIdleMs <= 0 && limits.deadline === undefined;
  if (off) return candidates;
  return candidates.map((candidate) => ({ ...candidate, adapter: timedAdapter(candidate.adapter, limits, clock) }));
}

function timedAdapter(adapter: ChatAdapter, limits: AttemptLimits, clock: () => number): ChatAdapter {
  const untilDeadline = (): number => (limits.deadline === undefined ? 0 : Math.max(1, limits.deadline - clock()));
  const unary = async <T>(target: ChatTarget, signal: AbortSignal, call: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const attempt = linkedController(signal);
    try {
      const outcome = await raceExpiry(call(attempt.controller.signal), untilDeadline(), "deadline");
      if (outcome.expired === undefined) return outcome.value;
      const error = expiredError(outcome.expired, target, limits);
      attempt.controller.abort(error);
      throw error;
    } finally {
      attempt.unlink();
    }
  };
  const timed: ChatAdapter = {
    chat: (params, target, signal) => unary(target, signal, (attemptSignal) => adapter.chat(params, target, attemptSignal)),
    chatStream: (params, target, signal) => timedStream(adapter, params, target, signal, limits, clock),
  };
  if (adapter.countTokens !== undefined) timed.countTokens = adapter.countTokens.bind(adapter);
  if (adapter.listModels !== undefined) timed.listModels = adapter.listModels.bind(adapter);
  const embed = adapter.embed;
  if (embed !== undefined) timed.embed = (request, target, signal) => unary(target, signal, (attemptSignal) => embed.call(adapter, request, target, attemptSignal));
  return timed;
}

async function* timedStream(
  adapter: ChatAdapter,
  params: Parameters<ChatAdapter["chatStream"]>[0],
  target: ChatTarget,
  signal: AbortSignal,
  limits: AttemptLimits,
  clock: () => number,
): AsyncGenerator<ChatStreamResponse> {
  const attempt = linkedController(signal);
  const iterator = adapter.chatStream(params, target, attempt.controller.signal)[Symbol.asyncIterator]();
  const watch = new PartWatch<IteratorResult<ChatStreamResponse>>(limits, clock);
  let finished = false;
  let expired = false;
  try {
    for (;;) {
      const result = await watch.wait(iterator.next());
      if (result === expiredMark) {
        expired = true;
        const error = expiredError(watch.expired!, target, limits);
        attempt.controller.abort(error);
        throw error;
      }
      if (result.done === true) {
        finished = true;
        return;
      }
      yield result.value;
    }
  } finally {
    watch.stop();
    attempt.unlink();
    if (!finished) {
      // The consumer stopped, the stream failed or stalled: the upstream request is aborted either way.
      if (!attempt.controller.signal.aborted) attempt.controller.abort(new ConnectError("attempt ended", Code.Canceled));
      // A stalled iterator's pending next() would hold return() back: it is not waited for then.
      const closing = iterator.return?.();
      if (expired) void closing?.catch(() => undefined);
      else await closing?.catch(() => undefined);
    }
  }
}

const expiredMark = Symbol("expired");

/**
 * The clock of one streaming attempt, on at most two timers made once: the first-token then idle
 * limit (re-armed with `refresh()` each time a part is awaited) and the deadline. A part passing
 * through costs one promise, not a timer, closures and a race; time the consumer holds a part is
 * not counted, as the limits are about the backend.
 */
class PartWatch<T> {
  /** Which limit ran out, once one has while a part was awaited. */
  expired: Expiry | undefined;
  private partTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private deadlinePassed = false;
  private first = true;
  private idleArmed = false;
  private work: Promise<T> | undefined;
  private wake: ((value: typeof expiredMark) => void) | undefined;
  // Made once: `new Promise(this.settleWith)` then allocates no closure per part.
  private readonly settleWith = (resolve: (value: T | typeof expiredMark) => void, reject: (reason: unknown) => void) => {
    this.wake = resolve;
    this.work!.then(resolve, reject);
  };

  constructor(
    private readonly limits: AttemptLimits,
    clock: () => number,
  ) {
    if (limits.deadline !== undefined) {
      this.deadlineTimer = setTimeout(() => this.fire("deadline"), Math.max(1, limits.deadline - clock()));
    }
  }

  /** The awaited part, or {@link expiredMark} when a limit ran out first. */
  wait(work: Promise<T>): Promise<T | typeof expiredMark> {
    if (this.deadlinePassed) {
      this.expired = "deadline";
      return Promise.resolve(expiredMark);
    }
    const limitMs = this.first ? this.limits.firstTokenMs : this.limits.streamIdleMs;
    if (this.first) {
      this.first = false;
      if (limitMs > 0) this.partTimer = setTimeout(() => this.fire("first-token"), limitMs);
    } else if (limitMs > 0) {
      // The first-token timer becomes the idle timer; after that it only restarts.
      if (this.partTimer !== undefined && this.idleArmed) this.partTimer.refresh();
      else this.armIdle(limitMs);
    } else if (this.partTimer !== undefined) {
      clearTimeout(this.partTimer);
      this.partTimer = undefined;
    }
    if (this.partTimer === undefined && this.deadlineTimer === undefined) return work;
    this.work = work;
    return new Promise(this.settleWith);
  }

  stop(): void {
    clearTimeout(this.partTimer);
    clearTimeout(this.deadlineTimer);
    this.wake = undefined;
  }

  private armIdle(limitMs: number): void {
    clearTimeout(this.partTimer);
    this.idleArmed = true;
    this.partTimer = setTimeout(() => this.fire("idle"), limitMs);
  }

  /**
   * A limit ran out: it ends the wait in progress (while the consumer holds a part, `wake` belongs to
   * a wait already over and does nothing; the next wait restarts the timer); the deadline also ends every later one.
   */
  private fire(kind: Expiry): void {
    if (kind === "deadline") this.deadlinePassed = true;
    this.expired = kind;
    this.wake?.(expiredMark);
  }
}

type Raced<T> = { readonly expired: undefined; readonly value: T } | { readonly expired: Expiry };

/** The work's result, or which limit ran out first; 0 ms: no limit. */
async function raceExpiry<T>(work: Promise<T>, ms: number, kind: Expiry): Promise<Raced<T>> {
  if (ms <= 0) return { expired: undefined, value: await work };
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<Raced<T>>((resolve) => (timer = setTimeout(() => resolve({ expired: kind }), ms)));
  try {
    return await Promise.race([work.then((value): Raced<T> => ({ expired: undefined, value })), expiry]);
  } finally {
    clearTimeout(timer);
  }
}

function linkedController(signal: AbortSignal): { controller: AbortController; unlink: () => void } {
  const controller = new AbortController();
  const forward = () => controller.abort(signal.reason);
  if (signal.aborted) forward();
  else signal.addEventListener("abort", forward, { once: true });
  return { controller, unlink: () => signal.removeEventListener("abort", forward) };
}

/** Names the backend by its name and model, never its URL. */
function expiredError(kind: Expiry, target: ChatTarget, limits: AttemptLimits): ConnectError {
  const backend = `${target.backend} (${target.upstreamModel})`;
  const seconds = (ms: number) => `${Number((ms / 1000).toFixed(3))} s`;
  switch (kind) {
    case "first-token":
      return new ConnectError(`backend ${backend} sent nothing within ${seconds(limits.firstTokenMs)} (time-to-first-token timeout)`, Code.DeadlineExceeded);
    case "idle":
      return new ConnectError(`backend ${backend} stalled: no part of its stream for ${seconds(limits.streamIdleMs)} (stream idle timeout)`, Code.DeadlineExceeded);
    case "deadline":
      return new ConnectError(`the request ran out of time (IIR_REQUEST_TIMEOUT) while waiting on backend ${backend}`, Code.DeadlineExceeded);
  }
}
