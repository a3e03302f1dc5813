import { randomUUID } from "node:crypto";
import type { Logger } from "../../common/logger.js";
import { timedOut, watchRedis } from "../../common/watched-redis.js";
import { createConcurrencyLimiter, type ConcurrencyLimiter, type ReleaseSlot } from "./concurrency-limiter.js";

/** Settings of the Redis concurrency limiter. */
export interface RedisConcurrencyLimiterOptions {
  readonly url: string;
  /** Prepended to every key (REDIS_KEY_PREFIX). */
  readonly keyPrefix: string;
  readonly logger: Logger;
  /** How long a slot outlives the replica holding it when that replica dies (default 30 s); renewed every third of it while held. */
  readonly leaseMs?: number;
  /** Longest an acquire may wait for Redis before this replica counts alone (default 250 ms). */
  readonly timeoutMs?: number;
}

// A slot is a member of the key's sorted set scored by its lease's end, on Redis's clock so that the
// replicas' clocks need not agree. Expired leases (a replica that died holding them) are dropped first.
// KEYS: the slots set. ARGV: limit, lease ms, slot id.
const acquireScript = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

// Extends the leases of the slots still there (XX: one that already expired is not taken back).
// KEYS: the slots set. ARGV: lease ms, slot ids…
const renewScript = `
local time = redis.call('TIME')
local expiry = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + tonumber(ARGV[1])
for index = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[index]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0
`;

/** A Redis-backed limiter, and a promise settled once its first connection attempt did (ready or not). */
export interface RedisConcurrencyLimiter extends ConcurrencyLimiter {
  readonly started: Promise<void>;
  close(): Promise<void>;
}

/**
 * Per-key caps on calls in flight counted in Redis, so that every router replica shares one cap.
 * Each slot is a lease this replica renews while the call runs, so a replica that dies mid-call
 * frees its slots within `leaseMs`. Redis trouble never refuses a call for that reason: while
 * Redis is unreachable or slow, each replica counts its own calls (logged once, and the recovery once).
 */
export function createRedisConcurrencyLimiter(options: RedisConcurrencyLimiterOptions): RedisConcurrencyLimiter {
  const leaseMs = options.leaseMs ?? 30_000;
  const timeoutMs = options.timeoutMs ?? 250;
  const local = createConcurrencyLimiter();
  // The slots this replica holds in Redis, per Redis key, to renew their leases.
  const held = new Map<string, Set<string>>();
  const { client, started, trouble, withDeadline } = watchRedis({
    url: options.url,
    logger: options.logger,
    timeoutMs,
    lost: "concurrency caps counted per router replica: Redis is unreachable",
    back: "concurrency caps shared again: Redis is reachable",
  });

  const keyOf = (subject: string) => `${options.keyPrefix}concurrency:{${subject}}`;
  const release = (key: string, slot: string): void => {
    const slots = held.get(key);
    slots?.delete(slot);
    if (slots?.size === 0) held.delete(key);
    if (client.isReady) client.zRem(key, slot).catch(trouble);
  };
  const renew = (): void => {
    if (!client.isReady) return;
    for (const [key, slots] of held) {
      client.eval(renewScript, { keys: [key], arguments: [String(leaseMs), ...slots] }).catch(trouble);
    }
  };
  const timer = setInterval(renew, Math.max(10, Math.floor(leaseMs / 3)));
  timer.unref();

  return {
    started,
    async acquire(subject, limit): Promise<ReleaseSlot | undefined> {
      if (!client.isReady) return local.acquire(subject, limit);
      const key = keyOf(subject);
      const slot = randomUUID();
      let answer: unknown;
      try {
        answer = await withDeadline(client.eval(acquireScript, { keys: [key], arguments: [String(limit), String(leaseMs), slot] }));
      } catch (error) {
        trouble(error);
        return local.acquire(subject, limit);
      }
      if (answer === timedOut) {
        // The slot may still be taken late: give it back, it would only expire otherwise.
        client.zRem(key, slot).catch(() => undefined);
        return local.acquire(subject, limit);
      }
      if (answer !== 1) return undefined;
      const slots = held.get(key) ?? new Set<string>();
      slots.add(slot);
      held.set(key, slots);
      const counted = local.acquire(subject, Number.MAX_SAFE_INTEGER);
      let released = false;
      return () => {
        // A stream can end several ways at once (its last part, the client's return(), an abort).
        if (released) return;
        released = true;
        counted?.();
        release(key, slot);
      };
    },
    inFlight: (subject) => local.inFlight(subject),
    async close() {
      clearInterval(timer);
      if (client.isReady) await Promise.allSettled([...held].map(([key, slots]) => client.zRem(key, [...slots])));
      held.clear();
      client.destroy();
    },
  };
}
