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
  /** Chat calls in flight at once; undefined: the router's default. */
  readonly maxConcurrent: number | undefined;
}

/**
 * The router's in-memory view of the registry's API keys, consulted on every request without
 * touching the database.
 */
export interface ApiKeyStore {
  /** The active key whose SHA-256 digest is `digest`, as of the latest load. */
  find(digest: Buffer): ActiveApiKey | undefined;
  /**
   * Whether any key was ever created, revoked ones included, as of the latest load. Revoking the
   * last key must not quietly open inference to everyone.
   */
  anyKeys(): boolean;
  /** Reloads now. */
  refresh(): Promise<void>;
  /** Stops reloading (the registry connection stays the caller's). */
  close(): Promise<void>;
}

/** Options of {@link createApiKeyStore}. */
export interface ApiKeyStoreOptions {
  /** The router's registry, migrated. */
  readonly db: Kysely<Database>;
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
  const { db } = options;
  let lastVersion: number | undefined;
  let failing = false;
  let queue: Promise<void> = Promise.resolve();

  const load = async (): Promise<void> => {
    lastVersion = await readDataVersion(db);
    const records = await listApiKeys(db);
    const active = records.filter((record) => record.revokedAt === undefined).map(storedKey);
    byDigest = new Map(active.map((key) => [key.digest.toString("hex"), key]));
    anyKeys = records.length > 0;
  };
  const tick = async (): Promise<void> => {
    if (lastVersion !== undefined && (await readDataVersion(db)) === lastVersion) return;
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
    },
  };
}

function storedKey(record: ApiKeyRecord): StoredKey {
  return { id: record.id, name: record.name, rpm: record.rpm, tpm: record.tpm, maxConcurrent: record.maxConcurrent, digest: Buffer.from(record.keyHash, "hex") };
}
