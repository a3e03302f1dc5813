import { createClient } from "redis";
import type { Logger } from "./logger.js";
import { redactUrl } from "./redact-url.js";

/** What {@link watchRedis} answers for a command Redis did not answer in time. */
export const timedOut = Symbol("timed out");

/** Settings of {@link watchRedis}. */
export interface WatchedRedisOptions {
  readonly url: string;
  readonly logger: Logger;
  /** Longest a command may take before the caller goes on without it. */
  readonly timeoutMs: number;
  /** Logged (warn) once when Redis becomes unreachable or slow: what the caller does meanwhile. */
  readonly lost: string;
  /** Logged (info) once when it answers again. */
  readonly back: string;
}

/** Commands fail at once while disconnected instead of queueing behind a dead socket; reconnects back off to 5 s. */
function createRedisClient(url: string) {
  return createClient({
    url,
    disableOfflineQueue: true,
    socket: { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 5000) },
  });
}

type RedisClient = ReturnType<typeof createRedisClient>;

/** A Redis client for a feature that must never fail a request when Redis does. */
export interface WatchedRedis {
  readonly client: RedisClient;
  /** Settles once the first connection attempt did, ready or not. */
  readonly started: Promise<void>;
  /** Reports a failed or slow command: logged once until Redis answers again. */
  trouble(error: unknown): void;
  /** Reports a command Redis answered: logs the recovery once after trouble. */
  recovered(): void;
  /** The command's answer, or `timedOut` (reported as trouble) when Redis takes longer than `timeoutMs`. */
  withDeadline<T>(work: Promise<T>): Promise<T | typeof timedOut>;
}

/**
 * Connects to Redis in the background and watches it: commands fail at once while disconnected
 * (no offline queue behind a dead socket), the client reconnects by itself with backoff, and an
 * outage and its end are each logged once, the URL without its password.
 */
export function watchRedis(options: WatchedRedisOptions): WatchedRedis {
  const redis = redactUrl(options.url);
  const client = createRedisClient(options.url);
  let healthy = true;
  const trouble = (error: unknown) => {
    if (!healthy) return;
    healthy = false;
    options.logger.warn(options.lost, { redis, error: error instanceof Error ? error.message : String(error) });
  };
  const recovered = () => {
    if (healthy) return;
    healthy = true;
    options.logger.info(options.back, { redis });
  };
  // Without a listener an 'error' event would crash the process; reconnecting is the client's job.
  client.on("error", trouble);
  client.on("ready", recovered);
  const started = new Promise<void>((resolve) => {
    client.once("ready", resolve);
    client.once("error", () => resolve());
  });
  client.connect().catch(trouble);

  return {
    client,
    started,
    trouble,
    recovered,
    async withDeadline(work) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<typeof timedOut>((resolve) => (timer = setTimeout(() => resolve(timedOut), options.timeoutMs)));
      try {
        const result = await Promise.race([work, deadline]);
        if (result === timedOut) trouble(new Error(`no answer within ${options.timeoutMs} ms`));
        return result;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
