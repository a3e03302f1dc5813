import type { AgentLoad } from "../../../gen/iir/heartbeat/v1/heartbeat_pb.js";
import type { Agent } from "../../../gen/iir/registry/v1/registry_pb.js";

/** One agent as the router routes to it. */
export interface LiveAgent {
  readonly id: string;
  readonly address: string;
  readonly models: readonly string[];
  /** Milliseconds since the epoch of the latest registration or beat. */
  readonly lastSeenAt: number;
  /** Queue length and active sequences from the latest beat. */
  readonly load: AgentLoad | undefined;
  /** Requests this router has sent to the agent that have not finished yet. */
  readonly inFlight: number;
}

/**
 * The router's in-memory view of its agents, kept current by RegisterAgent, Beat and
 * DeregisterAgent taken here and by periodic syncs with the shared registry, and read on every
 * request without touching the database.
 */
export interface AgentDirectory {
  /** Adds or replaces an agent (registration, or a row loaded at start-up). */
  upsert(agent: Agent): void;
  /** Records a beat; returns false when the agent is not in the directory. */
  beat(id: string, load: AgentLoad | undefined, now: number): boolean;
  remove(id: string): void;
  /**
   * Makes the directory agree with the shared registry's agents (registered or beating through any
   * router replica): adds the missing, refreshes the rest without going back in time, and forgets
   * those the registry no longer has, unless heard from here since `readStartedAt` (a registration
   * this router took while the rows were being read).
   */
  sync(agents: readonly Agent[], readStartedAt: number): void;
  /** Agents serving `model` that beat recently, least loaded first. */
  liveFor(model: string, now?: number): LiveAgent[];
  /** Whether any agent, live or stale, has ever served `model` since start-up. */
  knows(model: string): boolean;
  /** Models served by live agents, each with the agents serving it. */
  liveModels(now?: number): ReadonlyMap<string, readonly LiveAgent[]>;
  /** Whether an agent is stale at `now`. */
  isStale(id: string, now?: number): boolean;
  /** Counts a request to an agent as in flight; call the returned function when it ends. */
  begin(id: string): () => void;
  /**
   * Takes an agent out of routing at once, as when its stream broke mid-answer (a crash, a reset):
   * liveFor skips it until it is heard from again (a beat, a registration, a newer registry row),
   * and it goes stale as usual if it never is. Returns false when the agent is not in the directory.
   */
  markSuspect(id: string, now?: number): boolean;
}

interface Entry {
  id: string;
  address: string;
  models: readonly string[];
  lastSeenAt: number;
  load: AgentLoad | undefined;
  inFlight: number;
  /** When the router saw it fail (epoch ms); it serves again once heard from after that. */
  suspectSince?: number;
}

/** A directory where an agent silent for longer than `staleAfterMs` gets no traffic. */
export function createAgentDirectory(options: { staleAfterMs: number; now?: () => number }): AgentDirectory {
  const clock = options.now ?? Date.now;
  const entries = new Map<string, Entry>();
  const everServed = new Set<string>();
  const live = (entry: Entry, now: number) => now - entry.lastSeenAt <= options.staleAfterMs;
  const routable = (entry: Entry, now: number) => live(entry, now) && !(entry.suspectSince !== undefined && entry.lastSeenAt <= entry.suspectSince);
  const pressure = (entry: Entry) => (entry.load?.queueLength ?? 0) + entry.inFlight;
  const snapshot = (entry: Entry): LiveAgent => ({ ...entry });

  return {
    upsert(agent) {
      const fields = { address: agent.address, models: [...agent.models], lastSeenAt: Number(agent.lastSeenAt), load: agent.load };
      const previous = entries.get(agent.id);
      // Requests already sent keep counting when an agent registers again under the same id, and
      // their end functions (from begin) still hold this entry, so it is updated in place.
      if (previous !== undefined) Object.assign(previous, fields);
      else entries.set(agent.id, { id: agent.id, ...fields, inFlight: 0 });
      for (const model of agent.models) everServed.add(model);
    },
    beat(id, load, now) {
      const entry = entries.get(id);
      if (entry === undefined) return false;
      entry.lastSeenAt = now;
      entry.load = load;
      return true;
    },
    remove(id) {
      entries.delete(id);
    },
    sync(agents, readStartedAt) {
      const listed = new Set<string>();
      for (const agent of agents) {
        listed.add(agent.id);
        const seen = Number(agent.lastSeenAt);
        const entry = entries.get(agent.id);
        if (entry === undefined) {
          entries.set(agent.id, { id: agent.id, address: agent.address, models: [...agent.models], lastSeenAt: seen, load: agent.load, inFlight: 0 });
        } else {
          entry.address = agent.address;
          entry.models = [...agent.models];
          // A beat this router took after the row was written is newer than the row.
          if (seen >= entry.lastSeenAt) Object.assign(entry, { lastSeenAt: seen, load: agent.load });
        }
        for (const model of agent.models) everServed.add(model);
      }
      for (const [id, entry] of entries) if (!listed.has(id) && entry.lastSeenAt < readStartedAt) entries.delete(id);
    },
    liveFor(model, now = clock()) {
      const found: Entry[] = [];
      for (const entry of entries.values()) if (entry.models.includes(model) && routable(entry, now)) found.push(entry);
      // Least loaded first; ties go to the agent heard from most recently, then by id for stable order.
      found.sort((a, b) => pressure(a) - pressure(b) || b.lastSeenAt - a.lastSeenAt || (a.id < b.id ? -1 : 1));
      return found.map(snapshot);
    },
    knows: (model) => everServed.has(model),
    liveModels(now = clock()) {
      const models = new Map<string, LiveAgent[]>();
      for (const entry of entries.values()) {
        if (!live(entry, now)) continue;
        for (const model of entry.models) {
          const list = models.get(model) ?? [];
          list.push(snapshot(entry));
          models.set(model, list);
        }
      }
      return models;
    },
    isStale(id, now = clock()) {
      const entry = entries.get(id);
      return entry === undefined || !live(entry, now);
    },
    markSuspect(id, now = clock()) {
      const entry = entries.get(id);
      if (entry === undefined) return false;
      // At least the time of its latest beat: a beat in the same millisecond must not clear the mark.
      entry.suspectSince = Math.max(now, entry.lastSeenAt);
      return true;
    },
    begin(id) {
      const entry = entries.get(id);
      if (entry === undefined) return () => undefined;
      entry.inFlight += 1;
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        entry.inFlight -= 1;
      };
    },
  };
}
