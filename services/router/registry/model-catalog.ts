import type { Kysely } from "kysely";
import type { Model } from "../../../gen/iir/registry/v1/registry_pb.js";
import { listModels } from "./models.repository.js";
import type { Database } from "./schema.js";
import { readDataVersion } from "./data-version.js";

/**
 * The router's in-memory view of the registry, read on every request without touching the database.
 * Holds enabled and disabled models alike, so callers can tell "disabled" from "unknown".
 * The returned messages are shared: treat them as read-only.
 */
export interface ModelCatalog {
  /** The model named `name`, as of the latest load. */
  get(name: string): Model | undefined;
  /** Every model ordered by name, as of the latest load. */
  list(): readonly Model[];
  /** Reloads now; call after every mutation made through this process. */
  refresh(): Promise<void>;
  /** Stops the periodic reload. */
  close(): void;
}

/** Options of {@link createModelCatalog}. */
export interface ModelCatalogOptions {
  /** How often to look for changes written by other processes (the CLI writes the file directly). */
  readonly refreshMs: number;
  /** Told about a failed periodic reload; the previous snapshot stays in use. */
  readonly onError?: (error: unknown) => void;
}

interface Snapshot {
  readonly byName: ReadonlyMap<string, Model>;
  readonly models: readonly Model[];
}

/**
 * Creates the catalog, empty until the first load: await `refresh()` once before serving. It then
 * reloads every `refreshMs` on an unref'd timer. A periodic tick first asks SQLite's
 * `PRAGMA data_version`, which changes only when another connection committed, so an idle registry
 * costs one pragma per tick; where the pragma is unavailable (Postgres) every tick reloads.
 */
export function createModelCatalog(db: Kysely<Database>, options: ModelCatalogOptions): ModelCatalog {
  let snapshot: Snapshot = { byName: new Map(), models: [] };
  let lastVersion: number | undefined;
  let queue: Promise<void> = Promise.resolve();

  const load = async (): Promise<void> => {
    // The version is read before the rows: a commit racing with the load bumps it again and is seen next tick.
    lastVersion = await readDataVersion(db);
    const models = Object.freeze(await listModels(db));
    snapshot = { byName: new Map(models.map((model) => [model.name, model])), models };
  };
  // Loads run one after another so that an older read never overwrites a newer one.
  const enqueue = (task: () => Promise<void>): Promise<void> => {
    const next = queue.then(task);
    queue = next.catch(() => undefined);
    return next;
  };
  const tick = async (): Promise<void> => {
    const version = await readDataVersion(db);
    if (version === undefined || version !== lastVersion) await load();
  };

  const timer = setInterval(() => {
    enqueue(tick).catch((error: unknown) => options.onError?.(error));
  }, options.refreshMs);
  timer.unref();

  return {
    get: (name) => snapshot.byName.get(name),
    list: () => snapshot.models,
    refresh: () => enqueue(load),
    close: () => clearInterval(timer),
  };
}
