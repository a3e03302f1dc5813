import { randomUUID } from "node:crypto";
import type { Logger } from "../../common/logger.js";
import { timedOut, watchRedis } from "../../common/watched-redis.js";
import type { BreakerEvent, BreakerShare, CircuitBreakers } from "./circuit-breaker.js";

/** Settings of {@link createSharedBreakers}. */
export interface SharedBreakersOptions {
  readonly url: string;
  /** Prepended to every key and to the channel (REDIS_KEY_PREFIX). */
  readonly keyPrefix: string;
  readonly logger: Logger;
  /** Longest a probe claim may wait for Redis before this replica probes on its own (default 250 ms). */
  readonly timeoutMs?: number;
}

/** Breaker state shared through Redis; give it to createCircuitBreakers as `share`, then `connect` them. */
export interface SharedBreakers extends BreakerShare {
  /** Mirrors the openings and closings other replicas publish into `breakers`. */
  connect(breakers: Pick<CircuitBreakers, "mirror">): void;
  /** Settles once the first connection attempt did, ready or not. */
  readonly started: Promise<void>;
  close(): Promise<void>;
}

/** What travels on the channel: the time left rather than an instant, so replicas' clocks need not agree. */
interface WireEvent {
  readonly replica: string;
  readonly kind: "open" | "closed";
  readonly backend: string;
  readonly remainingMs?: number;
  readonly cooldownMs?: number;
  readonly reason?: string;
}

// Deletes the probe claim only while it is still this replica's (its lease may have passed to another).
const releaseScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * Circuit breakers shared by every router replica on one Redis. Each replica keeps its breakers in
 * memory (no Redis round trip per request); an opening is written to `<prefix>breaker:open:<backend>`
 * (expiring with the cooldown) and published on `<prefix>breakers`, as is a closing, and every
 * replica mirrors what the others publish. The half-open probe is claimed with SET NX PX, so one
 * probe runs across all replicas. Redis being down never fails a request: it is logged once, and
 * each replica's breakers go on alone until it answers again.
 */
export function createSharedBreakers(options: SharedBreakersOptions): SharedBreakers {
  const replica = randomUUID();
  const channel = `${options.keyPrefix}breakers`;
  const openKey = (backend: string) => `${options.keyPrefix}breaker:open:${backend}`;
  const probeKey = (backend: string) => `${options.keyPrefix}breaker:probe:${backend}`;
  const { client, started, trouble, recovered, withDeadline } = watchRedis({
    url: options.url,
    logger: options.logger,
    timeoutMs: options.timeoutMs ?? 250,
    lost: "Redis is unreachable: circuit breakers are this router's own until it answers again",
    back: "Redis answers again: circuit breakers are shared with the other router replicas again",
  });
  const subscriber = client.duplicate();
  subscriber.on("error", trouble);
  let mirror: Pick<CircuitBreakers, "mirror"> | undefined;
  let subscribed = false;
  const onMessage = (message: string) => {
    const event = parseWireEvent(message);
    if (event === undefined || event.replica === replica) return;
    if (event.kind === "closed") mirror?.mirror({ kind: "closed", backend: event.backend });
    else mirror?.mirror({ kind: "open", backend: event.backend, until: Date.now() + (event.remainingMs ?? 0), cooldownMs: event.cooldownMs ?? 0, reason: event.reason ?? "" });
  };
  // Openings made before this replica listened (it started, or Redis was away): read from their keys.
  const openPattern = `${options.keyPrefix.replace(/[*?[\]\\]/g, "\\$&")}breaker:open:*`;
  const catchUp = async () => {
    for await (const keys of client.scanIterator({ MATCH: openPattern, COUNT: 100 })) {
      for (const key of keys) {
        const [value, remainingMs] = await Promise.all([client.get(key), client.pTTL(key)]);
        if (value === null || remainingMs <= 0) continue;
        const event = parseWireEvent(value);
        if (event !== undefined && event.kind === "open") onMessage(JSON.stringify({ ...event, replica: "", remainingMs }));
      }
    }
  };
  // Subscribed once; the client subscribes again by itself after a reconnect.
  const subscribe = () => {
    if (!subscribed) {
      subscribed = true;
      subscriber.subscribe(channel, onMessage).catch((error: unknown) => {
        subscribed = false;
        trouble(error);
      });
    }
    send(catchUp);
  };
  subscriber.on("ready", subscribe);
  subscriber.connect().catch(trouble);
  const send = (work: () => Promise<unknown>) => {
    work().then(recovered, trouble);
  };

  return {
    started,
    connect(breakers) {
      mirror = breakers;
      if (subscribed) send(catchUp);
    },
    publish(event: BreakerEvent) {
      if (event.kind === "closed") {
        send(async () => {
          await client.del(openKey(event.backend));
          await client.publish(channel, JSON.stringify({ replica, kind: "closed", backend: event.backend } satisfies WireEvent));
        });
        return;
      }
      const remainingMs = Math.max(1, event.until - Date.now());
      const wire: WireEvent = { replica, kind: "open", backend: event.backend, remainingMs, cooldownMs: event.cooldownMs, reason: event.reason };
      send(async () => {
        await client.set(openKey(event.backend), JSON.stringify(wire), { expiration: { type: "PX", value: remainingMs } });
        await client.publish(channel, JSON.stringify(wire));
      });
    },
    async claimProbe(backend, leaseMs) {
      try {
        const answer = await withDeadline(client.set(probeKey(backend), replica, { NX: true, expiration: { type: "PX", value: Math.max(1, leaseMs) } }));
        if (answer === timedOut) return true;
        recovered();
        return answer === "OK";
      } catch (error) {
        // Redis is down: this replica's own breaker decides, as if it were alone.
        trouble(error);
        return true;
      }
    },
    releaseProbe(backend) {
      send(() => client.eval(releaseScript, { keys: [probeKey(backend)], arguments: [replica] }));
    },
    async close() {
      mirror = undefined;
      subscriber.destroy();
      client.destroy();
    },
  };
}

/** A message from the channel, or undefined for anything that is not one of ours. */
function parseWireEvent(message: string): WireEvent | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const event = parsed as Record<string, unknown>;
  if (typeof event.replica !== "string" || typeof event.backend !== "string") return undefined;
  if (event.kind === "closed") return { replica: event.replica, kind: "closed", backend: event.backend };
  if (event.kind !== "open" || typeof event.remainingMs !== "number" || !Number.isFinite(event.remainingMs)) return undefined;
  return {
    replica: event.replica,
    kind: "open",
    backend: event.backend,
    remainingMs: Math.max(1, event.remainingMs),
    cooldownMs: typeof event.cooldownMs === "number" && Number.isFinite(event.cooldownMs) ? event.cooldownMs : 0,
    reason: typeof event.reason === "string" ? event.reason.slice(0, 200) : "",
  };
}
