import type { ColumnType } from "kysely";

/**
 * Integer milliseconds since the epoch. Written as numbers; read back through `Number()` because
 * Postgres drivers return `bigint` columns as strings.
 */
export type Timestamp = ColumnType<number, number, number>;

/** A row of `models`: one entry of the registry. Lists are JSON text so both dialects store them alike. */
export interface ModelsTable {
  name: string;
  provider: string;
  base_url: string;
  upstream_model: string;
  /** Name of the environment variable holding the provider key — never the key itself. */
  api_key_env: string;
  /** JSON array of model names, tried in order. */
  fallbacks: string;
  context_length: number;
  input_price_per_million: number;
  output_price_per_million: number;
  /** 0 or 1: SQLite has no boolean type, and an integer reads the same on Postgres. */
  enabled: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** JSON array of the provider-controlled request fields (service_tier…) this entry lets through. */
  allowed_request_fields: string;
  /** 0 or 1: whether answers to sampling requests are cached too. */
  cache_sampled: number;
  /** JSON array of proto JSON `iir.registry.v1.Deployment`s; empty: the fields above are the one deployment. */
  deployments: string;
  /** How a deployment is chosen ("", ordered, weighted, least-busy, lowest-latency). */
  strategy: string;
  /** Longest wait for the first token, ms; 0: the router's default. */
  ttft_timeout_ms: number;
  /** JSON array of what the model can do (tools, images, json_schema, reasoning). */
  capabilities: string;
  /** Proto JSON of `iir.registry.v1.AutoRouting`, or null when the entry is no `auto` router. */
  auto: string | null;
}

/** A row of `agents`: a registered agent and its last reported load. */
export interface AgentsTable {
  id: string;
  address: string;
  /** JSON array of the model names the agent serves. */
  models: string;
  /** Proto JSON of `iir.registry.v1.Hardware`, or null when the agent sent none. */
  hardware: string | null;
  registered_at: Timestamp;
  last_seen_at: Timestamp;
  /** Proto JSON of `iir.heartbeat.v1.AgentLoad` from the latest beat, or null before the first. */
  load: string | null;
  /** JSON array of proto JSON `iir.registry.v1.ModelFile`s from the agent's models directory, or null. */
  model_files: string | null;
  /** When model_files was last written (ms since the epoch); 0: never. */
  model_files_updated_at: ColumnType<number, number | undefined, number>;
}

/** A row of `api_keys`: an API key of inference callers, stored as its SHA-256 digest — never the key itself. */
export interface ApiKeysTable {
  /** Random id, stable across renames; rate-limit counters are kept under it. */
  id: string;
  name: string;
  /** Lowercase hex SHA-256 of the whole key. */
  key_hash: string;
  /** The key's last 4 characters, to tell keys apart in listings (`iir-…abcd`). */
  last_four: string;
  /** Requests per minute; null: the router's RATE_LIMIT_REQUESTS default. */
  rpm: number | null;
  /** Tokens per minute; null: the router's RATE_LIMIT_TOKENS default. */
  tpm: number | null;
  /** Chat calls in flight at once; null: the router's RATE_LIMIT_CONCURRENT default. */
  max_concurrent: number | null;
  created_at: Timestamp;
  /** When the key was revoked; null while it is valid. */
  revoked_at: number | null;
}

/** The registry database as kysely sees it. */
export interface Database {
  models: ModelsTable;
  agents: AgentsTable;
  api_keys: ApiKeysTable;
}
