import { createHash } from "node:crypto";
import type { Logger } from "../../common/logger.js";
import { rateLimitWindowMs, type RateLimitDecision, type RateLimitStore, type WindowUsage } from "./rate-limit-store.js";
import { timedOut, watchRedis } from "../../common/watched-redis.js";

/** Settings of the Redis rate-limit store. */
export interface RedisRateLimitStoreOptions {
  readonly url: string;
  /** Prepended to every key (REDIS_KEY_PREFIX). */
  readonly keyPrefix: string;
  readonly logger: Logger;
  /** Longest a check may take before the request goes ahead unchecked (default 250 ms). */
  readonly timeoutMs?: number;
  readonly windowMs?: number;
}

/** A Redis-backed store, and a promise settled once its first connection attempt did (ready or not). */
export interface RedisRateLimitStore extends RateLimitStore {
  readonly started: Promise<void>;
}

// One round trip, atomic across every router replica: read both counters, refuse when a budget is
// spent, otherwise count the request (its window starts with the first one), and report what is left.
// KEYS: requests counter, tokens counter. ARGV: window ms, request limit, token limit (0: none).
const admitSource = `
local requests = tonumber(redis.call('GET', KEYS[1]) or '0')
local tokens = tonumber(redis.call('GET', KEYS[2]) or '0')
local requestLimit = tonumber(ARGV[2])
local tokenLimit = tonumber(ARGV[3])
local refused = 0
if requestLimit > 0 and requests >= requestLimit then
  refused = 1
elseif tokenLimit > 0 and tokens >= tokenLimit then
  refused = 2
else
  requests = redis.call('INCR', KEYS[1])
  if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
end
return {refused, requests, redis.call('PTTL', KEYS[1]), tokens, redis.call('PTTL', KEYS[2])}
`;

// KEYS: tokens counter. ARGV: window ms, tokens to add.
const addTokensSource = `
local total = redis.call('INCRBY', KEYS[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return total
`;

interface Script {
  readonly text: string;
  readonly sha: string;
}

const admitScript: Script = { text: admitSource, sha: sha1(admitSource) };
const addTokensScript: Script = { text: addTokensSource, sha: sha1(addTokensSource) };

/**
 * Rate-limit counters in Redis, so that every router replica spends one budget per key. Keys are
 * `<prefix>ratelimit:{<key id>}:requests|tokens` (the braces keep both in one Redis Cluster slot).
 * Redis trouble never refuses a request: a check that fails or is slow lets it through, the outage
 * is logged once (and its end once), and the client reconnects by itself in the background.
 */
export function createRedisRateLimitStore(options: RedisRateLimitStoreOptions): RedisRateLimitStore {
  const windowMs = options.windowMs ?? rateLimitWindowMs;
  const timeoutMs = options.timeoutMs ?? 250;
  const { client, started, trouble, recovered, withDeadline } = watchRedis({
    url: options.url,
    logger: options.logger,
    timeoutMs,
    lost: "rate limits suspended: Redis is unreachable, requests go ahead unlimited until it is back",
    back: "rate limits enforced again: Redis is reachable",
  });

  const evaluate = async (script: Script, keys: string[], args: string[]): Promise<unknown> => {
    try {
      return await client.evalSha(script.sha, { keys, arguments: args });
    } catch (error) {
      // The first call after a Redis restart (or SCRIPT FLUSH) loads the script again.
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return client.eval(script.text, { keys, arguments: args });
    }
  };
  const run = async (script: Script, keys: string[], args: string[]): Promise<unknown> => {
    if (!client.isReady) {
      trouble(new Error("not connected"));
      return undefined;
    }
    try {
      const result = await withDeadline(evaluate(script, keys, args));
      if (result === timedOut) return undefined;
      recovered();
      return result;
    } catch (error) {
      trouble(error);
      return undefined;
    }
  };
  const keysOf = (subject: string) => {
    const base = `${options.keyPrefix}ratelimit:{${subject}}`;
    return { requests: `${base}:requests`, tokens: `${base}:tokens` };
  };

  return {
    started,
    async admit(subject, limits) {
      const keys = keysOf(subject);
      const reply = await run(admitScript, [keys.requests, keys.tokens], [String(windowMs), String(limits.requests ?? 0), String(limits.tokens ?? 0)]);
      return reply === undefined ? undefined : decisionFromReply(reply);
    },
    async addTokens(subject, tokens) {
      await run(addTokensScript, [keysOf(subject).tokens], [String(windowMs), String(Math.round(tokens))]);
    },
    async close() {
      client.destroy();
    },
  };
}

function decisionFromReply(reply: unknown): RateLimitDecision | undefined {
  if (!Array.isArray(reply) || reply.length !== 5 || !reply.every((item) => typeof item === "number")) return undefined;
  const [refused, requests, requestTtl, tokens, tokenTtl] = reply as number[];
  const usage = (used: number | undefined, ttl: number | undefined): WindowUsage => ({ used: used ?? 0, resetMs: Math.max(0, ttl ?? 0) });
  return {
    refusedBy: refused === 1 ? "requests" : refused === 2 ? "tokens" : undefined,
    requests: usage(requests, requestTtl),
    tokens: usage(tokens, tokenTtl),
  };
}

function sha1(text: string): string {
  return createHash("sha1").update(text).digest("hex");
}
