import fs from "node:fs";
import type { RequestHandler } from "express";
import type { Config } from "../services/common/config.js";
import type { Logger } from "../services/common/logger.js";
import { openDatabase } from "../services/router/registry/database.js";
import { createApiKeyAuth } from "./auth/api-key-auth.js";
import { createApiKeyStore } from "./auth/api-key-store.js";
import { createMemoryRateLimitStore } from "./rate-limit/memory-rate-limit-store.js";
import { createRateLimiter } from "./rate-limit/rate-limiter.js";
import { createRedisRateLimitStore } from "./rate-limit/redis-rate-limit-store.js";
import type { RateLimitStore } from "./rate-limit/rate-limit-store.js";

/** The facade's /v1 middleware for API keys and rate limits, and how to release what it holds. */
export interface AccessGuards {
  readonly auth: RequestHandler;
  readonly rateLimiter: RequestHandler;
  /** Whether /v1 is open to anyone right now (no key ever created, IIR_REQUIRE_AUTH unset). */
  isOpen(): boolean;
  close(): Promise<void>;
}

/**
 * Builds the guards from configuration. API keys are read from the registry's SQLite file at
 * SQLITE_DB_PATH, opened read-only: in `iir all` that is the router's own file, and a split
 * `iir facade` must be given the same file (same host or a shared volume). A file that does not
 * exist yet is looked for again on every refresh. Rate limits live in Redis when REDIS_URL is set
 * (shared by every replica), else in memory.
 */
export async function createAccessGuards(options: { config: Config; logger: Logger }): Promise<AccessGuards> {
  const { config, logger } = options;
  const path = config.sqliteDbPath;
  const keys = await createApiKeyStore({
    open: () => (path !== ":memory:" && fs.existsSync(path) ? openDatabase(path, { readonly: true }) : undefined),
    refreshMs: config.registryRefreshMs,
    onError: (error) =>
      logger.error("cannot read API keys from the registry; the keys loaded before stay in force", {
        registry: path,
        error: error instanceof Error ? error.message : String(error),
      }),
  });
  let store: RateLimitStore;
  if (config.redisUrl === undefined) {
    store = createMemoryRateLimitStore();
  } else {
    const redis = createRedisRateLimitStore({ url: config.redisUrl, keyPrefix: config.redisKeyPrefix, logger });
    // Limits hold from the first request when Redis is up; when it is down the facade starts anyway.
    await redis.started;
    store = redis;
  }
  return {
    auth: createApiKeyAuth({ keys, requireAuth: config.requireAuth }),
    rateLimiter: createRateLimiter({ store, defaults: { requests: config.rateLimitRequests, tokens: config.rateLimitTokens } }),
    isOpen: () => !config.requireAuth && !keys.anyKeys(),
    async close() {
      await keys.close();
      await store.close();
    },
  };
}
