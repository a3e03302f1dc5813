/** Frees a slot taken with {@link ConcurrencyLimiter.acquire}; calling it again does nothing. */
export type ReleaseSlot = () => void;

/**
 * Counts of calls in flight per subject (an API key's id): in this process's memory
 * ({@link createConcurrencyLimiter}), or in Redis, shared by every router replica
 * (redis-concurrency-limiter.ts).
 */
export interface ConcurrencyLimiter {
  /** Takes one of the subject's `limit` slots; undefined when all are taken (nothing is counted then). */
  acquire(subject: string, limit: number): ReleaseSlot | undefined | Promise<ReleaseSlot | undefined>;
  /** The subject's calls in flight now, as this process counts them. */
  inFlight(subject: string): number;
  /** Stops background work (lease renewals) and frees what it holds; the memory limiter has none. */
  close?(): Promise<void>;
}

/** A limiter in this process's memory, whose answers need no waiting. */
export interface MemoryConcurrencyLimiter extends ConcurrencyLimiter {
  acquire(subject: string, limit: number): ReleaseSlot | undefined;
}

/**
 * Creates an empty limiter in this process's memory: each router replica counts its own calls, so
 * N replicas let a key have up to N × limit in flight. One Map lookup per acquire and per release. A subject's entry goes
 * when its last call is released, so keys that stop calling (revoked ones too) leave nothing behind.
 */
export function createConcurrencyLimiter(): MemoryConcurrencyLimiter {
  const counts = new Map<string, number>();
  const release = (subject: string): void => {
    const held = counts.get(subject) ?? 0;
    if (held <= 1) counts.delete(subject);
    else counts.set(subject, held - 1);
  };
  return {
    acquire(subject, limit) {
      const held = counts.get(subject) ?? 0;
      if (held >= limit) return undefined;
      counts.set(subject, held + 1);
      let released = false;
      return () => {
        // A stream can end several ways at once (its last part, the client's return(), an abort).
        if (released) return;
        released = true;
        release(subject);
      };
    },
    inFlight: (subject) => counts.get(subject) ?? 0,
  };
}
