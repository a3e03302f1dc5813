import type { Kysely } from "kysely";
import { listAgents } from "../registry/agents.repository.js";
import type { Database } from "../registry/schema.js";
import type { AgentDirectory } from "./agent-directory.js";

/** Options of {@link createAgentSync}. */
export interface AgentSyncOptions {
  /** The shared registry every router replica writes registrations and beats to. */
  readonly db: Kysely<Database>;
  readonly agents: AgentDirectory;
  /** How often to read the registry's agents (IIR_REGISTRY_REFRESH_MS). */
  readonly refreshMs: number;
  /** Told when syncing starts failing; the directory keeps what it knew meanwhile. */
  readonly onError?: (error: unknown) => void;
  /** Clock in milliseconds; tests inject their own. */
  readonly now?: () => number;
}

/** A running sync: `refresh()` syncs now, `close()` stops the timer and waits for a sync in progress. */
export interface AgentSync {
  refresh(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Keeps the router's agent directory in step with the registry's `agents` table, so that an agent
 * registered with (and beating to) one router replica serves requests arriving at every other one,
 * and one deregistered anywhere leaves all. Liveness is the table's `last_seen_at`, which each beat
 * writes: a replica sees an agent go stale at most one refresh later than the replica it beats to.
 * Requests read the directory alone; only this timer reads the database.
 */
export function createAgentSync(options: AgentSyncOptions): AgentSync {
  const clock = options.now ?? Date.now;
  let failing = false;
  let queue: Promise<void> = Promise.resolve();

  const sync = async (): Promise<void> => {
    const startedAt = clock();
    options.agents.sync(await listAgents(options.db), startedAt);
  };
  // Syncs run one after another so that an older read never overwrites a newer one.
  const enqueue = (): Promise<void> => {
    queue = queue.then(sync).then(
      () => void (failing = false),
      (error: unknown) => {
        if (!failing) options.onError?.(error);
        failing = true;
      },
    );
    return queue;
  };
  const timer = setInterval(() => void enqueue(), options.refreshMs);
  timer.unref();
  return {
    refresh: enqueue,
    async close() {
      clearInterval(timer);
      await queue;
    },
  };
}
