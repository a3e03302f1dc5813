import fs from "node:fs";
import os from "node:os";
import { providerTable, type ProviderConfig } from "./providers.js";
import { redactUrlCredentialsIn } from "./redact-url.js";

export type { ProviderConfig } from "./providers.js";

/** PEM material for TLS on the mesh's hops (router, agents, and their clients), read at start-up. */
export interface TlsFiles {
  /** This process's certificate chain: served by its servers, presented as a client certificate by its clients. */
  readonly cert: Buffer;
  readonly key: Buffer;
  /**
   * The CA that signs the mesh's certificates. Set: servers require a client certificate it
   * signed (mutual TLS) and clients trust only servers it signed. Unset: TLS with the system's CAs.
   */
  readonly ca: Buffer | undefined;
}

/** Limits every HTTP/2 and HTTP/1.1 port of the router and agents keeps (nghttp2's own, and ours). */
export interface ServerLimits {
  /** Streams a client may have open on one connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxConcurrentStreams: number;
  /** Request-body bytes one connection may hold in its open calls; a stream that goes beyond is reset. */
  readonly connectionBufferBytes: number;
  /** Request-body bytes all connections together may hold. */
  readonly totalBufferBytes: number;
  /** Longest a client may take to send a request's body. */
  readonly bodyTimeoutMs: number;
  /** A connection with no call open for this long is closed (HTTP/2: GOAWAY). */
  readonly idleTimeoutMs: number;
  /** Longest a new connection may take to show its protocol (or finish its TLS handshake). */
  readonly handshakeTimeoutMs: number;
}

/** The router's HTTP client for providers (undici). */
export interface UpstreamSettings {
  /** Longest a connection may take to open (IIR_UPSTREAM_CONNECT_TIMEOUT), apart from the wait for an answer. */
  readonly connectTimeoutMs: number;
  /** Connections per upstream origin at most (IIR_UPSTREAM_MAX_CONNECTIONS); 0: no limit. */
  readonly maxConnections: number;
  /** Offer HTTP/2 to https upstreams (IIR_UPSTREAM_HTTP2). */
  readonly http2: boolean;
  /** HTTP_PROXY, HTTPS_PROXY and NO_PROXY (or their lower-case forms, which win, as curl reads them). */
  readonly httpProxy: string | undefined;
  readonly httpsProxy: string | undefined;
  readonly noProxy: string | undefined;
}

/** Everything IIR reads from its environment, validated once and frozen. */
export interface Config {
  /** Where the facade listens (IIR_HOST): it is the edge, all interfaces by default. */
  readonly host: string;
  /** Where the router listens (IIR_ROUTER_HOST): loopback unless told otherwise. */
  readonly routerHost: string;
  readonly facadePort: number;
  readonly routerPort: number;
  /** Where a split facade finds its router, e.g. `http://127.0.0.1:50051`. */
  readonly routerUrl: string;
  /** A split facade PINGs its router after this long without a word while calls are open (IIR_ROUTER_KEEPALIVE); 0: never. */
  readonly routerKeepaliveMs: number;
  readonly sqliteDbPath: string;
  /** Postgres registry (DATABASE_URL, postgres:// or postgresql://), shared by router replicas; undefined: SQLite at sqliteDbPath. Never logged: it may carry a password. */
  readonly databaseUrl: string | undefined;
  readonly maxBodyBytes: number;
  readonly shutdownGraceMs: number;
  readonly upstreamTimeoutMs: number;
  /** The `anthropic-version` header of every Anthropic request (ANTHROPIC_VERSION). */
  readonly anthropicVersion: string;
  /** The `api-version` query parameter of every Azure OpenAI request (AZURE_OPENAI_API_VERSION). */
  readonly azureOpenAIApiVersion: string;
  /** How the router's HTTP client reaches providers. */
  readonly upstream: UpstreamSettings;
  readonly registryRefreshMs: number;
  readonly logLevel: LogLevel;
  /** Request log lines include the client's messages (LOG_PROMPTS); off by default. */
  readonly logPrompts: boolean;
  /** Log lines also go to this file, one file per local day: `logs/iir.log` → `logs/iir.2026-11-23.1.log`. */
  readonly logFile: string | undefined;
  /** LOG_FILE's day files kept, the current one included (LOG_FILE_KEEP); older ones are removed at each midnight. */
  readonly logFileKeep: number;
  /** OTLP/HTTP base URL traces are exported to (OTEL_EXPORTER_OTLP_ENDPOINT); undefined: no tracing at all. */
  readonly otlpEndpoint: string | undefined;
  /** Port the router serves `/metrics` on (IIR_ROUTER_METRICS_PORT); undefined: off. */
  readonly routerMetricsPort: number | undefined;
  readonly providers: Readonly<Record<string, ProviderConfig>>;
  /** TLS (and mutual TLS with a CA) on every mesh hop; undefined: plain h2c. */
  readonly tls: TlsFiles | undefined;
  readonly serverLimits: ServerLimits;
  /** Heartbeat interval the router asks of agents, and agents use until told otherwise. */
  readonly heartbeatIntervalMs: number;
  /** Silence after which the router stops routing to an agent. */
  readonly agentStaleAfterMs: number;
  /** Shared secret agents present to register and beat; undefined: none required. */
  readonly agentToken: string | undefined;
  readonly agent: AgentConfig;
  /** Redis for the response cache (and shared rate limits); undefined: in-memory. */
  readonly redisUrl: string | undefined;
  /** Seconds a cached answer lives; 0 turns the response cache off. */
  readonly cacheTtlSeconds: number;
  /** Entries kept by the in-memory cache. */
  readonly cacheMaxEntries: number;
  /** Estimated bytes the in-memory cache may hold (CACHE_MAX_BYTES); a larger answer is not kept. */
  readonly cacheMaxBytes: number;
  /** Whose cached answers a request may get: `key` (each API key its own) or `global` (CACHE_SCOPE). */
  readonly cacheScope: "key" | "global";
  /** Longest a Redis cache operation may take before it counts as a miss. */
  readonly cacheTimeoutMs: number;
  /** Prepended to every Redis key (rate limits, cache), so several deployments can share one Redis. */
  readonly redisKeyPrefix: string;
  /** Whether /v1 requests need an API key even while none exists (IIR_REQUIRE_AUTH). */
  readonly requireAuth: boolean;
  /** Bearer token RegistryService mutations need; undefined: none required. */
  readonly adminToken: string | undefined;
  /** Requests per minute for API keys without their own limit; undefined: unlimited. */
  readonly rateLimitRequests: number | undefined;
  /** Tokens per minute for API keys without their own limit; undefined: unlimited. */
  readonly rateLimitTokens: number | undefined;
  /** Chat calls in flight at once for API keys without their own cap, per router; undefined: no cap. */
  readonly rateLimitConcurrent: number | undefined;
  /** Circuit breakers per backend (IIR_BREAKER_FAILURES, IIR_BREAKER_COOLDOWN_MS, IIR_BREAKER_MAX_COOLDOWN_MS). */
  readonly breaker: {
    readonly failures: number;
    readonly cooldownMs: number;
    readonly maxCooldownMs: number;
    /** Failure rate (percent) over `failureRateWindowMs` that opens a breaker once `failureRateMinimum` attempts were seen (IIR_BREAKER_FAILURE_RATE…); 0: off. */
    readonly failureRatePercent: number;
    readonly failureRateMinimum: number;
    readonly failureRateWindowMs: number;
  };
  /** Per-attempt and per-request timeouts (IIR_TTFT_TIMEOUT, IIR_STREAM_IDLE_TIMEOUT, IIR_REQUEST_TIMEOUT); 0: none. */
  readonly timeouts: { readonly firstTokenMs: number; readonly streamIdleMs: number; readonly requestMs: number };
  /** Extra upstream calls allowed over a sliding window (IIR_RETRY_BUDGET_PERCENT, IIR_RETRY_BUDGET_WINDOW, IIR_RETRY_BUDGET_MIN). */
  readonly retryBudget: { readonly percent: number; readonly windowMs: number; readonly minimum: number };
  /** Reads a secret named by the registry (a model's `api_key_env`), captured at start-up. */
  readonly secret: (variable: string) => string | undefined;
  /** Browser origins the facade answers CORS for (IIR_CORS_ORIGINS): `*` or exact origins; undefined: CORS off. */
  readonly corsOrigins: "*" | readonly string[] | undefined;
  /** How often the router re-reads each configured provider's model list (IIR_PROVIDER_MODELS_REFRESH_MS); 0: providers' models are not listed. */
  readonly providerModelsRefreshMs: number;
  /** `auto` routing's weights and cost threshold (ROUTER_COST_WEIGHT, ROUTER_LATENCY_WEIGHT, ROUTER_COST_THRESHOLD in USD per request; 0: none). */
  readonly autoRouting: { readonly costWeight: number; readonly latencyWeight: number; readonly costThreshold: number };
  /** Prefix affinity: how much busier (queue + in flight) a conversation's previous agent may be than the least busy one and still get its next turn (IIR_AFFINITY_MAX_EXTRA_LOAD); conversations remembered (IIR_AFFINITY_CONVERSATIONS; 0: off). */
  readonly affinity: { readonly maxExtraLoad: number; readonly conversations: number };
  /** Memory left free when recommending model files to agents: a share of it (IIR_RECOMMEND_HEADROOM) plus bytes (IIR_RECOMMEND_RESERVE). */
  readonly recommend: { readonly headroomFraction: number; readonly reserveBytes: number };
}

/** The local agent's settings (`iir agent`, and the agent inside `iir all`). */
export interface AgentConfig {
  /** Whether `iir all` starts a local agent. */
  readonly enabled: boolean;
  /** GGUF file to serve; undefined: the built-in tiny model. */
  readonly modelPath: string | undefined;
  /** The model id clients ask for; undefined: `local/<file name without extension>`. */
  readonly modelId: string | undefined;
  /** Where the built-in tiny model is written the first time it is needed. */
  readonly tinyModelPath: string;
  readonly threads: number;
  /** false: CPU only; "auto": whatever GPU node-llama-cpp finds. */
  readonly gpu: "auto" | false;
  /** Sequences decoded together in one context. */
  readonly parallel: number;
  /** Requests waiting for a sequence beyond which the agent answers ResourceExhausted. */
  readonly maxQueue: number;
  /** Context tokens per sequence; 0: the model's training context, at most 4096. */
  readonly contextSize: number;
  readonly port: number;
  /** Where the agent listens (IIR_AGENT_HOST): loopback unless told otherwise. */
  readonly host: string;
  /** The address the router should use; undefined: http(s)://127.0.0.1:<port>. */
  readonly advertiseUrl: string | undefined;
  /** undefined: `<host name>-<port>`. */
  readonly id: string | undefined;
  /** GGUF files the agent offers to load and reports to the router (IIR_AGENT_MODELS_DIR); undefined: none. */
  readonly modelsDir: string | undefined;
  /** Caps the memory the agent reports (IIR_AGENT_MEMORY_LIMIT), e.g. a container's limit; undefined: the machine's. */
  readonly memoryLimitBytes: number | undefined;
  /** The router the agent registers with. */
  readonly routerUrl: string;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

/** Thrown when the environment is wrong; lists every problem at once. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

const logLevels: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];

/** Reads and validates the environment; throws ConfigError naming every bad variable. */
export function loadConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const read = createReader(environment, problems);
  const snapshot = Object.freeze({ ...environment });
  const providers: Record<string, ProviderConfig> = {};
  for (const entry of providerTable) {
    providers[entry.name] = Object.freeze({
      name: entry.name,
      baseUrl: read.url(entry.baseUrlVariable, entry.defaultBaseUrl),
      baseUrlVariable: entry.baseUrlVariable,
      apiKey: read.string(entry.apiKeyVariable, undefined),
      apiKeyVariable: entry.apiKeyVariable,
      keyRequired: entry.keyRequired,
    });
  }
  const config: Config = {
    host: read.string("IIR_HOST", "0.0.0.0") ?? "0.0.0.0",
    routerHost: read.string("IIR_ROUTER_HOST", "127.0.0.1") ?? "127.0.0.1",
    tls: readTlsFiles(read, problems),
    serverLimits: Object.freeze({
      maxConcurrentStreams: read.integer("IIR_MAX_STREAMS", 1000, 1, 2 ** 31 - 1),
      connectionBufferBytes: read.bytes("IIR_CONNECTION_BUFFER", 64 * 1024 * 1024),
      totalBufferBytes: read.bytes("IIR_TOTAL_BUFFER", 256 * 1024 * 1024),
      bodyTimeoutMs: read.seconds("IIR_BODY_TIMEOUT", 30),
      idleTimeoutMs: read.seconds("IIR_IDLE_TIMEOUT", 300),
      handshakeTimeoutMs: read.seconds("IIR_HANDSHAKE_TIMEOUT", 10),
    }),
    facadePort: read.port("IIR_FACADE_PORT", 8000),
    routerPort: read.port("IIR_ROUTER_PORT", 50051),
    routerUrl: read.url("IIR_ROUTER_URL", "http://127.0.0.1:50051") ?? "",
    routerKeepaliveMs: read.seconds("IIR_ROUTER_KEEPALIVE", 10),
    sqliteDbPath: read.string("SQLITE_DB_PATH", "data/iir.db") ?? "data/iir.db",
    databaseUrl: read.postgresUrl("DATABASE_URL"),
    maxBodyBytes: read.bytes("IIR_MAX_BODY", 4 * 1024 * 1024),
    shutdownGraceMs: read.seconds("IIR_SHUTDOWN_GRACE", 10),
    upstreamTimeoutMs: read.seconds("IIR_UPSTREAM_TIMEOUT", 600),
    anthropicVersion: read.string("ANTHROPIC_VERSION", "2023-06-01") ?? "2023-06-01",
    azureOpenAIApiVersion: read.string("AZURE_OPENAI_API_VERSION", "2024-10-21") ?? "2024-10-21",
    upstream: Object.freeze({
      connectTimeoutMs: read.seconds("IIR_UPSTREAM_CONNECT_TIMEOUT", 10),
      maxConnections: read.integer("IIR_UPSTREAM_MAX_CONNECTIONS", 4096, 0, 1_000_000),
      http2: read.boolean("IIR_UPSTREAM_HTTP2", false),
      httpProxy: read.url("http_proxy", undefined) ?? read.url("HTTP_PROXY", undefined),
      httpsProxy: read.url("https_proxy", undefined) ?? read.url("HTTPS_PROXY", undefined),
      noProxy: read.string("no_proxy", undefined) ?? read.string("NO_PROXY", undefined),
    }),
    registryRefreshMs: read.integer("IIR_REGISTRY_REFRESH_MS", 1000, 10),
    logLevel: read.choice("LOG_LEVEL", "info", logLevels),
    logPrompts: read.boolean("LOG_PROMPTS", false),
    logFile: read.string("LOG_FILE", undefined),
    logFileKeep: read.integer("LOG_FILE_KEEP", 7, 1, 3650),
    otlpEndpoint: read.url("OTEL_EXPORTER_OTLP_ENDPOINT", undefined),
    routerMetricsPort: read.string("IIR_ROUTER_METRICS_PORT", undefined) === undefined ? undefined : read.port("IIR_ROUTER_METRICS_PORT", 0),
    providers: Object.freeze(providers),
    heartbeatIntervalMs: read.seconds("HEARTBEAT_INTERVAL", 5),
    redisUrl: read.redisUrl("REDIS_URL"),
    cacheTtlSeconds: read.integer("CACHE_TTL", 3600, 0),
    cacheMaxEntries: read.integer("CACHE_MAX_ENTRIES", 1000, 0, 1_000_000),
    cacheMaxBytes: read.bytes("CACHE_MAX_BYTES", 64 * 1024 * 1024),
    cacheScope: read.choice("CACHE_SCOPE", "key", ["key", "global"] as const),
    cacheTimeoutMs: read.integer("CACHE_TIMEOUT_MS", 50, 1, 60_000),
    redisKeyPrefix: read.string("REDIS_KEY_PREFIX", "iir:") ?? "iir:",
    requireAuth: read.boolean("IIR_REQUIRE_AUTH", false),
    adminToken: read.string("IIR_ADMIN_TOKEN", undefined),
    rateLimitRequests: read.optionalInteger("RATE_LIMIT_REQUESTS", 1),
    rateLimitTokens: read.optionalInteger("RATE_LIMIT_TOKENS", 1),
    rateLimitConcurrent: read.optionalInteger("RATE_LIMIT_CONCURRENT", 1),
    breaker: Object.freeze({
      failures: read.integer("IIR_BREAKER_FAILURES", 5, 1),
      cooldownMs: read.integer("IIR_BREAKER_COOLDOWN_MS", 5000, 1),
      maxCooldownMs: read.integer("IIR_BREAKER_MAX_COOLDOWN_MS", 60_000, 1),
      failureRatePercent: read.integer("IIR_BREAKER_FAILURE_RATE", 50, 0, 100),
      failureRateMinimum: read.integer("IIR_BREAKER_FAILURE_RATE_MIN", 20, 1),
      failureRateWindowMs: read.integer("IIR_BREAKER_WINDOW_MS", 30_000, 100),
    }),
    timeouts: Object.freeze({
      firstTokenMs: read.seconds("IIR_TTFT_TIMEOUT", 120),
      streamIdleMs: read.seconds("IIR_STREAM_IDLE_TIMEOUT", 60),
      requestMs: read.seconds("IIR_REQUEST_TIMEOUT", 900),
    }),
    retryBudget: Object.freeze({
      percent: read.integer("IIR_RETRY_BUDGET_PERCENT", 20, 0, 1000),
      windowMs: read.seconds("IIR_RETRY_BUDGET_WINDOW", 10),
      minimum: read.integer("IIR_RETRY_BUDGET_MIN", 10, 0),
    }),
    corsOrigins: readCorsOrigins(read.string("IIR_CORS_ORIGINS", undefined), problems),
    providerModelsRefreshMs: read.integer("IIR_PROVIDER_MODELS_REFRESH_MS", 600_000, 0),
    autoRouting: Object.freeze({
      costWeight: read.decimal("ROUTER_COST_WEIGHT", 0.5),
      latencyWeight: read.decimal("ROUTER_LATENCY_WEIGHT", 0.3),
      costThreshold: read.decimal("ROUTER_COST_THRESHOLD", 0),
    }),
    affinity: Object.freeze({
      maxExtraLoad: read.integer("IIR_AFFINITY_MAX_EXTRA_LOAD", 2, 0),
      conversations: read.integer("IIR_AFFINITY_CONVERSATIONS", 10_000, 0),
    }),
    recommend: Object.freeze({
      headroomFraction: Math.min(read.decimal("IIR_RECOMMEND_HEADROOM", 0.15), 0.95),
      reserveBytes: read.bytes("IIR_RECOMMEND_RESERVE", 0),
    }),
    agentStaleAfterMs: 0,
    agentToken: read.string("IIR_AGENT_TOKEN", undefined),
    agent: Object.freeze({
      enabled: read.boolean("IIR_AGENT_ENABLED", true),
      modelPath: read.string("IIR_AGENT_MODEL", undefined),
      modelId: read.string("IIR_AGENT_MODEL_ID", undefined),
      tinyModelPath: read.string("IIR_TINY_MODEL_PATH", "data/models/iir-tiny.gguf") ?? "data/models/iir-tiny.gguf",
      threads: read.integer("IIR_AGENT_THREADS", defaultThreadCount(), 1, 256),
      gpu: read.boolean("IIR_AGENT_GPU", true) ? ("auto" as const) : false,
      parallel: read.integer("IIR_AGENT_PARALLEL", 4, 1, 64),
      maxQueue: read.integer("IIR_AGENT_MAX_QUEUE", 64, 0, 100_000),
      contextSize: read.integer("IIR_AGENT_CONTEXT_SIZE", 0, 0, 1_048_576),
      port: read.port("IIR_AGENT_PORT", 50061),
      host: read.string("IIR_AGENT_HOST", "127.0.0.1") ?? "127.0.0.1",
      advertiseUrl: read.url("IIR_AGENT_ADVERTISE_URL", undefined),
      id: read.string("IIR_AGENT_ID", undefined),
      modelsDir: read.string("IIR_AGENT_MODELS_DIR", undefined) || undefined,
      memoryLimitBytes: read.string("IIR_AGENT_MEMORY_LIMIT", undefined) === undefined ? undefined : read.bytes("IIR_AGENT_MEMORY_LIMIT", 0) || undefined,
      routerUrl: read.url("ROUTER_URL", "http://127.0.0.1:50051") ?? "",
    }),
    secret: (variable) => snapshot[variable] || undefined,
  };
  const staleAfter = read.seconds("AGENT_STALE_AFTER", (config.heartbeatIntervalMs * 3) / 1000);
  if (config.heartbeatIntervalMs < 10) problems.push(`HEARTBEAT_INTERVAL must be at least 0.01 seconds`);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({ ...config, agentStaleAfterMs: staleAfter });
}

/** IIR_TLS_CERT and IIR_TLS_KEY (both or neither) and IIR_TLS_CA, read from their PEM files. */
/** `*`, or comma-separated origins (`https://app.example.com`, `http://localhost:5173`); unset: CORS off. */
function readCorsOrigins(value: string | undefined, problems: string[]): "*" | readonly string[] | undefined {
  if (value === undefined) return undefined;
  const entries = value.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
  if (entries.includes("*")) return "*";
  const origins: string[] = [];
  for (const entry of entries) {
    const origin = originOf(entry);
    if (origin === undefined) problems.push(`IIR_CORS_ORIGINS must be * or comma-separated origins such as https://app.example.com, got "${entry}"`);
    else origins.push(origin);
  }
  return Object.freeze(origins);
}

/** The origin an entry names (scheme, host, port; a trailing slash allowed), as browsers send it; undefined for anything else. */
function originOf(entry: string): string | undefined {
  try {
    const url = new URL(entry);
    const plain = url.pathname === "/" && url.search === "" && url.hash === "" && url.username === "" && url.password === "";
    return (url.protocol === "http:" || url.protocol === "https:") && plain ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

function readTlsFiles(read: ReturnType<typeof createReader>, problems: string[]): TlsFiles | undefined {
  const certPath = read.string("IIR_TLS_CERT", undefined);
  const keyPath = read.string("IIR_TLS_KEY", undefined);
  const caPath = read.string("IIR_TLS_CA", undefined);
  if (certPath === undefined && keyPath === undefined) {
    if (caPath !== undefined) problems.push("IIR_TLS_CA needs IIR_TLS_CERT and IIR_TLS_KEY too");
    return undefined;
  }
  if (certPath === undefined || keyPath === undefined) {
    problems.push("IIR_TLS_CERT and IIR_TLS_KEY must be set together");
    return undefined;
  }
  const readPem = (variable: string, file: string): Buffer | undefined => {
    try {
      const text = fs.readFileSync(file);
      if (!text.includes("-----BEGIN ")) throw new Error("not a PEM file");
      return text;
    } catch (error) {
      problems.push(`${variable} must name a readable PEM file, got "${file}": ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  };
  const cert = readPem("IIR_TLS_CERT", certPath);
  const key = readPem("IIR_TLS_KEY", keyPath);
  const ca = caPath === undefined ? undefined : readPem("IIR_TLS_CA", caPath);
  if (cert === undefined || key === undefined || (caPath !== undefined && ca === undefined)) return undefined;
  return Object.freeze({ cert, key, ca });
}

/** Threads for a CPU-only engine: every core but one for the rest of the process, at least one. */
export function defaultThreadCount(): number {
  return Math.max(1, os.availableParallelism() - 1);
}

function createReader(environment: NodeJS.ProcessEnv, problems: string[]) {
  const raw = (name: string) => {
    const value = environment[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  const integer = (name: string, fallback: number, minimum = 0, maximum = Number.MAX_SAFE_INTEGER): number => {
    const value = raw(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < minimum || parsed > maximum) {
      problems.push(`${name} must be an integer from ${minimum} to ${maximum}, got "${value}"`);
      return fallback;
    }
    return parsed;
  };
  return {
    string: (name: string, fallback: string | undefined) => raw(name) ?? fallback,
    integer,
    /** An integer of at least `minimum`, or undefined when the variable is unset. */
    /** A finite number >= 0 (weights, prices). */
    decimal: (name: string, fallback: number): number => {
      const value = raw(name);
      if (value === undefined) return fallback;
      const parsed = Number(value);
      if (!Number.isFinite(parsed) || parsed < 0) {
        problems.push(`${name} must be a number >= 0, got "${value}"`);
        return fallback;
      }
      return parsed;
    },
    optionalInteger: (name: string, minimum: number): number | undefined =>
      raw(name) === undefined ? undefined : integer(name, minimum, minimum),
    port: (name: string, fallback: number) => integer(name, fallback, 0, 65535),
    seconds: (name: string, fallback: number): number => {
      const value = raw(name);
      const parsed = value === undefined ? fallback : Number(value);
      if (!Number.isFinite(parsed) || parsed < 0) {
        problems.push(`${name} must be a number of seconds, got "${value}"`);
        return fallback * 1000;
      }
      return Math.round(parsed * 1000);
    },
    bytes: (name: string, fallback: number): number => {
      const value = raw(name);
      if (value === undefined) return fallback;
      // kb and kib alike are 1024 bytes: sizes here are memory and buffers, counted in binary units.
      const match = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)?$/i.exec(value);
      if (!match) {
        problems.push(`${name} must be a size such as 4mb, 512MiB or 65536, got "${value}"`);
        return fallback;
      }
      const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 }[(match[2] ?? "b").toLowerCase().replace("ib", "b") as "b"];
      return Math.floor(Number(match[1]) * unit);
    },
    url: (name: string, fallback: string | undefined): string | undefined => {
      const value = raw(name) ?? fallback;
      if (value === undefined) return undefined;
      try {
        const url = new URL(value);
        if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("not http");
        return value.replace(/\/+$/, "");
      } catch {
        problems.push(`${name} must be an http(s) URL, got "${redactUrlCredentialsIn(value)}"`);
        return fallback;
      }
    },
    redisUrl: (name: string): string | undefined => {
      const value = raw(name);
      if (value === undefined) return undefined;
      try {
        const url = new URL(value);
        if (url.protocol !== "redis:" && url.protocol !== "rediss:") throw new Error("not redis");
        return value;
      } catch {
        // The URL may carry a password: it is never echoed.
        problems.push(`${name} must be a redis:// or rediss:// URL`);
        return undefined;
      }
    },
    postgresUrl: (name: string): string | undefined => {
      const value = raw(name);
      if (value === undefined) return undefined;
      try {
        const url = new URL(value);
        if ((url.protocol !== "postgres:" && url.protocol !== "postgresql:") || (url.hostname === "" && !url.searchParams.has("host"))) throw new Error("not postgres");
        return value;
      } catch {
        // The URL may carry a password: it is never echoed.
        problems.push(`${name} must be a postgres:// or postgresql:// URL with a host`);
        return undefined;
      }
    },
    boolean: (name: string, fallback: boolean): boolean => {
      const value = raw(name)?.toLowerCase();
      if (value === undefined) return fallback;
      if (["true", "1", "yes", "on"].includes(value)) return true;
      if (["false", "0", "no", "off"].includes(value)) return false;
      problems.push(`${name} must be true or false, got "${value}"`);
      return fallback;
    },
    choice: <T extends string>(name: string, fallback: T, choices: readonly T[]): T => {
      const value = raw(name);
      if (value === undefined) return fallback;
      if (!choices.includes(value as T)) {
        problems.push(`${name} must be one of ${choices.join(", ")}, got "${value}"`);
        return fallback;
      }
      return value as T;
    },
  };
}
