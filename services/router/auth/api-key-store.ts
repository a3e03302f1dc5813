import { timingSafeEqual } from "node:crypto";
import type { Kysely } from "kysely";
import { listApiKeys, type ApiKeyRecord } from "../registry/api-keys.repository.js";
import type { Database } from "../registry/schema.js";
import { readDataVersion } from "../registry/data-version.js";

/** A key that may be used, as the router holds it in memory: its digest, never the key. */
export interface ActiveApiKey {
  readonly id: string;
  readonly name: string;
  readonly rpm: number | undefined;
  readonly tpm: number | undefined;
}

/**
 * The facade's in-memory view of the registry's API keys, consulted on every request without
 * touching the database.
 */
export interface ApiKeyStore {
  /** The active key whose SHA-256 digest is `digest`, as of the latest load. */
  find(digest: Buffer): ActiveApiKey | undefined;
  /**
   * Whether any key was ever created, revoked ones included, as of the latest load. Revoking the
   * last key must not quietly open the facade to everyone.
   */
  anyKeys(): boolean;
  /** Reloads now. */
  refresh(): Promise<void>;
  /** Stops reloading and closes the registry connection. */
  close(): Promise<void>;
}

/** Options of {@link createApiKeyStore}. */
export interface ApiKeyStoreOptions {
  /**
   * Opens the registry; returns undefined while there is none yet (a split facade started before
   * its router created the file). Tried again on every tick until it answers.
   */
  readonly open: () => Kysely<Database> | undefined;
  /** How often to look for keys created or revoked by other processes (the CLI writes the file). */
  readonly refreshMs: number;
  /** Told when loading starts failing; the previous keys stay in force meanwhile. */
  readonly onError?: (error: unknown) => void;
}

interface StoredKey extends ActiveApiKey {
  readonly digest: Buffer;
}

/**
 * Creates the store and loads it once. Like the router's model catalog it then reloads every
 * `refreshMs` on an unref'd timer, first asking SQLite's `PRAGMA data_version` (which changes only
 * when another connection committed), so an idle registry costs one pragma per tick and a key
 * created or revoked with the CLI takes effect within one tick.
 */
export async function createApiKeyStore(options: ApiKeyStoreOptions): Promise<ApiKeyStore> {
  let byDigest = new Map<string, StoredKey>();
  let anyKeys = false;
  let db: Kysely<Database> | undefined;
  let lastVersion: number | undefined;
  let failing = false;
  let queue: Promise<void> = Promise.resolve();

  const load = async (): Promise<void> => {
    db ??= options.open();
    if (db === undefined) return;
    lastVersion = await readDataVersion(db);
    const records = await listKeysOrNone(db);
    const active = records.filter((record) => record.revokedAt === undefined).map(storedKey);
    byDigest = new Map(active.map((key) => [key.digest.toString("hex"), key]));
    anyKeys = records.length > 0;
  };
  const tick = async (): Promise<void> => {
    if (db !== undefined && lastVersion !== undefined && (await readDataVersion(db)) === lastVersion) return;
    await load();
  };
  // Loads run one after another so that an older read never overwrites a newer one.
  const enqueue = (task: () => Promise<void>): Promise<void> => {
    const next = queue.then(task).then(
      () => void (failing = false),
      (error: unknown) => {
        if (!failing) options.onError?.(error);
        failing = true;
      },
    );
    queue = next;
    return next;
  };

  await enqueue(load);
  const timer = setInterval(() => void enqueue(tick), options.refreshMs);
  timer.unref();

  return {
    find(digest) {
      const candidate = byDigest.get(digest.toString("hex"));
      // The map lookup found it by digest; the constant-time compare is the actual check.
      if (candidate === undefined || !timingSafeEqual(candidate.digest, digest)) return undefined;
      return candidate;
    },
    anyKeys: () => anyKeys,
    refresh: () => enqueue(load),
    async close() {
      clearInterval(timer);
      await queue;
      await db?.destroy();
    },
  };
}

async function listKeysOrNone(db: Kysely<Database>): Promise<ApiKeyRecord[]> {
  try {
    return await listApiKeys(db);
  } catch (error) {
    // A registry its router has not migrated yet has no keys table, hence no keys.
    if (error instanceof Error && /no such table: api_keys/.test(error.message)) return [];
    throw error;
  }
}

function storedKey(record: ApiKeyRecord): StoredKey {
  return { id: record.id, name: record.name, rpm: record.rpm, tpm: record.tpm, digest: Buffer.from(record.keyHash, "hex") };
}
