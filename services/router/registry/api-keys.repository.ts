import { randomUUID } from "node:crypto";
import type { Kysely, Selectable } from "kysely";
import { generateApiKey, hashApiKey } from "./api-key-secret.js";
import type { ApiKeysTable, Database } from "./schema.js";

/** A stored API key: everything but the key itself, which is never stored. */
export interface ApiKeyRecord {
  readonly id: string;
  readonly name: string;
  /** Lowercase hex SHA-256 of the key. */
  readonly keyHash: string;
  readonly lastFour: string;
  /** Requests per minute of this key; undefined: the router's default. */
  readonly rpm: number | undefined;
  /** Tokens per minute of this key; undefined: the router's default. */
  readonly tpm: number | undefined;
  /** Chat calls of this key in flight at once, per router; undefined: the router's default. */
  readonly maxConcurrent: number | undefined;
  readonly createdAt: number;
  /** When it was revoked; undefined while valid. */
  readonly revokedAt: number | undefined;
}

/** What `createApiKey` needs. */
export interface NewApiKey {
  readonly name: string;
  readonly rpm?: number | undefined;
  readonly tpm?: number | undefined;
  readonly maxConcurrent?: number | undefined;
}

/** Refusal of a key operation (bad name, duplicate, unknown key); the message is meant for the user. */
export class ApiKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ApiKeyError";
  }
}

/** Longest key name accepted. */
export const maxApiKeyNameLength = 64;

/** Every problem with a new key's name and limits; empty when it may be stored. */
export function validateNewApiKey(input: NewApiKey): string[] {
  const problems: string[] = [];
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(input.name) || input.name.length > maxApiKeyNameLength) {
    problems.push(`name must be 1–${maxApiKeyNameLength} letters, digits, '.', '_' or '-' (starting with a letter or digit), got "${input.name}"`);
  }
  for (const [field, value] of [["rpm", input.rpm], ["tpm", input.tpm], ["max_concurrent", input.maxConcurrent]] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) problems.push(`${field} must be an integer >= 1, got ${value}`);
  }
  return problems;
}

/**
 * Creates a key and returns it with its record. The key itself is in the answer only: the registry
 * keeps its SHA-256 digest and last 4 characters. Throws ApiKeyError for an invalid or taken name.
 */
export async function createApiKey(db: Kysely<Database>, input: NewApiKey, now: number = Date.now()): Promise<{ key: string; record: ApiKeyRecord }> {
  const problems = validateNewApiKey(input);
  if (problems.length > 0) throw new ApiKeyError(`invalid API key: ${problems.join("; ")}`);
  if ((await getApiKey(db, input.name)) !== undefined) throw new ApiKeyError(`an API key named "${input.name}" already exists`);
  const key = generateApiKey();
  const row = {
    id: randomUUID(),
    name: input.name,
    key_hash: hashApiKey(key),
    last_four: key.slice(-4),
    rpm: input.rpm ?? null,
    tpm: input.tpm ?? null,
    max_concurrent: input.maxConcurrent ?? null,
    created_at: now,
    revoked_at: null,
  };
  try {
    await db.insertInto("api_keys").values(row).execute();
  } catch (error) {
    // Another process created the same name between the check and the insert.
    if (error instanceof Error && /UNIQUE|unique/.test(error.message)) throw new ApiKeyError(`an API key named "${input.name}" already exists`);
    throw error;
  }
  return { key, record: recordFromRow(row) };
}

/** One key by name, revoked or not. */
export async function getApiKey(db: Kysely<Database>, name: string): Promise<ApiKeyRecord | undefined> {
  const row = await db.selectFrom("api_keys").selectAll().where("name", "=", name).executeTakeFirst();
  return row === undefined ? undefined : recordFromRow(row);
}

/** Every key, revoked ones included, oldest first. */
export async function listApiKeys(db: Kysely<Database>): Promise<ApiKeyRecord[]> {
  const rows = await db.selectFrom("api_keys").selectAll().orderBy("created_at").orderBy("name").execute();
  return rows.map(recordFromRow);
}

/** The keys that may be used: not revoked. */
export async function listActiveApiKeys(db: Kysely<Database>): Promise<ApiKeyRecord[]> {
  const rows = await db.selectFrom("api_keys").selectAll().where("revoked_at", "is", null).execute();
  return rows.map(recordFromRow);
}

/** Revokes a key by name. Says what happened: revoked now, revoked earlier, or no such key. */
export async function revokeApiKey(db: Kysely<Database>, name: string, now: number = Date.now()): Promise<"revoked" | "already-revoked" | "not-found"> {
  const result = await db.updateTable("api_keys").set({ revoked_at: now }).where("name", "=", name).where("revoked_at", "is", null).executeTakeFirst();
  if (result.numUpdatedRows > 0n) return "revoked";
  return (await getApiKey(db, name)) === undefined ? "not-found" : "already-revoked";
}

function recordFromRow(row: Selectable<ApiKeysTable>): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    keyHash: row.key_hash,
    lastFour: row.last_four,
    rpm: row.rpm === null ? undefined : Number(row.rpm),
    tpm: row.tpm === null ? undefined : Number(row.tpm),
    maxConcurrent: row.max_concurrent === null ? undefined : Number(row.max_concurrent),
    createdAt: Number(row.created_at),
    revokedAt: row.revoked_at === null ? undefined : Number(row.revoked_at),
  };
}
