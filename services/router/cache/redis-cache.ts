import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient } from "redis";
import { ChatResponseSchema } from "../../../gen/iir/inference/v1/inference_pb.js";
import type { Logger } from "../../common/logger.js";
import type { CacheProblem, ResponseCache } from "./response-cache.js";
import { redactUrl } from "../../common/redact-url.js";

/** Settings of the Redis cache. */
export interface RedisCacheOptions {
  readonly url: string;
  /** Longest a lookup or store may take before it counts as a miss (CACHE_TIMEOUT_MS). */
  readonly timeoutMs: number;
  /** Prepended to every key, so several deployments can share one Redis. */
  readonly keyPrefix?: string;
  readonly logger: Logger;
  /** Told about every failed or slow operation, for metrics. */
  readonly onProblem?: (problem: CacheProblem) => void;
}

const timedOut = Symbol("timed out");

/**
 * The response cache in Redis, shared by every router. Answers are stored as protobuf binary
 * (base64) under `<prefix>cache:<scope>:<model>:<hash>` (scope: `key-<id>`, `open` or `global`, see
 * cache-policy.ts) with the TTL as expiry. Redis trouble never fails a request: a command that
 * errors or takes longer than timeoutMs is a miss, the outage is logged once (and its end once),
 * and the client reconnects by itself in the background.
 */
export function createRedisCache(options: RedisCacheOptions): ResponseCache {
  const prefix = `${options.keyPrefix ?? "iir:"}cache:`;
  let healthy = true;
  // Until the first connection attempt settles, a miss is expected and not an outage.
  let starting = true;
  const client = createClient({
    url: options.url,
    // Commands fail at once while disconnected instead of queueing behind a dead socket.
    disableOfflineQueue: true,
    socket: { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 5000) },
  });
  const trouble = (problem: CacheProblem, error?: unknown) => {
    options.onProblem?.(problem);
    if (!healthy) return;
    healthy = false;
    options.logger.warn("response cache unavailable; answering without it", {
      redis: redactUrl(options.url),
      error: error instanceof Error ? error.message : problem,
    });
  };
  const recovered = () => {
    if (healthy) return;
    healthy = true;
    options.logger.info("response cache reachable again", { redis: redactUrl(options.url) });
  };
  // Without a listener an 'error' event would crash the process; reconnecting is the client's job.
  client.on("error", (error: unknown) => trouble("error", error));
  client.on("ready", () => {
    starting = false;
    recovered();
  });
  client.connect().catch((error: unknown) => {
    starting = false;
    trouble("error", error);
  });

  const withTimeout = async <T>(operation: Promise<T>): Promise<T | typeof timedOut> => {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<typeof timedOut>((resolve) => {
      timer = setTimeout(() => resolve(timedOut), options.timeoutMs);
    });
    try {
      return await Promise.race([operation, deadline]);
    } finally {
      clearTimeout(timer);
    }
  };
  const run = async <T>(command: () => Promise<T>): Promise<T | undefined> => {
    if (!client.isReady) {
      if (!starting) trouble("error");
      return undefined;
    }
    try {
      const result = await withTimeout(command());
      if (result === timedOut) {
        trouble("timeout");
        return undefined;
      }
      recovered();
      return result;
    } catch (error) {
      trouble("error", error);
      return undefined;
    }
  };

  return {
    async get(key) {
      const stored = await run(() => client.get(prefix + key));
      if (typeof stored !== "string") return undefined;
      // Stored as "<expiry ms>:<base64 protobuf>" so a copy kept nearer expires with the original.
      const separator = stored.indexOf(":");
      const expiresAt = Number(stored.slice(0, separator));
      if (separator <= 0 || !Number.isFinite(expiresAt)) return undefined;
      try {
        return { response: fromBinary(ChatResponseSchema, Buffer.from(stored.slice(separator + 1), "base64")), expiresAt };
      } catch {
        return undefined;
      }
    },
    async set(key, entry) {
      const milliseconds = Math.round(entry.expiresAt - Date.now());
      if (milliseconds <= 0) return;
      const value = `${entry.expiresAt}:${Buffer.from(toBinary(ChatResponseSchema, entry.response)).toString("base64")}`;
      await run(() => client.set(prefix + key, value, { expiration: { type: "PX", value: milliseconds } }));
    },
    async close() {
      client.destroy();
    },
  };
}
