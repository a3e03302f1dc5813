import { parseArgs, type ParseArgsConfig } from "node:util";
import type { Kysely } from "kysely";
import { displayApiKey } from "../../services/router/registry/api-key-secret.js";
import { ApiKeyError, createApiKey, listApiKeys, revokeApiKey, type ApiKeyRecord } from "../../services/router/registry/api-keys.repository.js";
import type { Database } from "../../services/router/registry/schema.js";
import type { CommandOutput } from "./models.js";
import { UsageError } from "./models-usage.js";

/** Help for `iir keys`. */
export const keysUsage = `usage:
  iir keys create --name NAME [--rpm N] [--tpm N] [--max-concurrent N]   print a new API key (shown this once only)
  iir keys list [--json]                                                 every key: name, created, limits, revoked, iir-…abcd
  iir keys revoke NAME                                                   the key stops working within IIR_REGISTRY_REFRESH_MS

  --rpm N              requests per minute for this key (default: RATE_LIMIT_REQUESTS of the router, else unlimited)
  --tpm N              tokens per minute for this key (default: RATE_LIMIT_TOKENS of the router, else unlimited)
  --max-concurrent N   chat requests in flight at once, per router (default: RATE_LIMIT_CONCURRENT, else no cap)`;

/**
 * `iir keys create|list|revoke`. Writes straight to the registry database, which stores only each
 * key's SHA-256 digest; a running router picks changes up on its next refresh. Throws UsageError for
 * a bad command line and ApiKeyError when the registry refuses (taken or unknown name).
 */
export async function runKeysCommand(args: string[], db: Kysely<Database>, output: CommandOutput): Promise<void> {
  const [subcommand, ...rest] = args;
  switch (subcommand) {
    case "create":
      return createCommand(rest, db, output);
    case "list":
      return listCommand(rest, db, output);
    case "revoke":
      return revokeCommand(rest, db, output);
    case "help":
    case "--help":
    case "-h":
      output.log(keysUsage);
      return;
    default:
      throw new UsageError(`${subcommand === undefined ? "missing keys command" : `unknown keys command '${subcommand}'`}\n${keysUsage}`);
  }
}

async function createCommand(args: string[], db: Kysely<Database>, output: CommandOutput): Promise<void> {
  const { values, positionals } = parse(args, { name: { type: "string" }, rpm: { type: "string" }, tpm: { type: "string" }, "max-concurrent": { type: "string" } });
  if (positionals.length > 0) throw new UsageError(`keys create takes its name as --name NAME, got ${positionals.map((value) => `'${value}'`).join(" ")}\n${keysUsage}`);
  if (values.name === undefined) throw new UsageError(`keys create needs --name NAME\n${keysUsage}`);
  const problems: string[] = [];
  const limit = (flag: "rpm" | "tpm" | "max-concurrent"): number | undefined => {
    const text = values[flag];
    if (text === undefined) return undefined;
    const parsed = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(parsed) || parsed < 1) problems.push(`--${flag} must be an integer >= 1, got "${text}"`);
    return parsed;
  };
  const rpm = limit("rpm");
  const tpm = limit("tpm");
  const maxConcurrent = limit("max-concurrent");
  if (problems.length > 0) throw new UsageError(`${problems.join("\n")}\n${keysUsage}`);
  const { key, record } = await createApiKey(db, { name: values.name, rpm, tpm, maxConcurrent });
  const limits = [formatLimit(record.rpm, "rpm"), formatLimit(record.tpm, "tpm"), formatLimit(record.maxConcurrent, "concurrent")];
  output.log(`created API key "${record.name}" (${limits.join(", ")})`);
  output.log(key);
  output.log("Store it now: it is shown only this once; the registry keeps only its SHA-256 digest.");
}

async function listCommand(args: string[], db: Kysely<Database>, output: CommandOutput): Promise<void> {
  const { values, positionals } = parse(args, { json: { type: "boolean" } });
  if (positionals.length > 0) throw new UsageError(`keys list takes no arguments\n${keysUsage}`);
  const keys = await listApiKeys(db);
  if (values.json) output.log(JSON.stringify({ keys: keys.map(plainKey) }, null, 2));
  else if (keys.length === 0) output.log("no API keys (inference is open to anyone; create one with: iir keys create --name NAME)");
  else for (const line of formatKeyTable(keys)) output.log(line);
}

async function revokeCommand(args: string[], db: Kysely<Database>, output: CommandOutput): Promise<void> {
  const { positionals } = parse(args, {});
  if (positionals.length !== 1) throw new UsageError(`keys revoke takes exactly one key NAME\n${keysUsage}`);
  const name = positionals[0] as string;
  const outcome = await revokeApiKey(db, name);
  if (outcome === "not-found") throw new ApiKeyError(`API key "${name}" not found`);
  output.log(outcome === "revoked" ? `revoked API key "${name}"` : `API key "${name}" was already revoked`);
}

type Options = NonNullable<ParseArgsConfig["options"]>;

function parse<T extends Options>(args: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n${keysUsage}`);
  }
}

const columns: ReadonlyArray<readonly [string, (key: ApiKeyRecord) => string]> = [
  ["NAME", (key) => key.name],
  ["CREATED", (key) => formatTime(key.createdAt)],
  ["RPM", (key) => (key.rpm === undefined ? "default" : String(key.rpm))],
  ["TPM", (key) => (key.tpm === undefined ? "default" : String(key.tpm))],
  ["CONCURRENT", (key) => (key.maxConcurrent === undefined ? "default" : String(key.maxConcurrent))],
  ["REVOKED", (key) => (key.revokedAt === undefined ? "-" : formatTime(key.revokedAt))],
  ["KEY", (key) => displayApiKey(key.lastFour)],
];

/** Lines of an aligned table of keys, headed by column names; never the keys themselves. */
export function formatKeyTable(keys: readonly ApiKeyRecord[]): string[] {
  const cells = [columns.map(([title]) => title), ...keys.map((key) => columns.map(([, cell]) => cell(key)))];
  const widths = columns.map((_, index) => Math.max(...cells.map((row) => (row[index] ?? "").length)));
  return cells.map((row) => row.map((cell, index) => (index === row.length - 1 ? cell : cell.padEnd(widths[index] ?? 0))).join("  "));
}

function plainKey(key: ApiKeyRecord) {
  return {
    name: key.name,
    created_at: key.createdAt,
    rpm: key.rpm ?? null,
    tpm: key.tpm ?? null,
    max_concurrent: key.maxConcurrent ?? null,
    revoked_at: key.revokedAt ?? null,
    key: displayApiKey(key.lastFour),
  };
}

function formatLimit(value: number | undefined, unit: string): string {
  return value === undefined ? `${unit}: router default` : `${value} ${unit}`;
}

/** UTC, to the second: `2026-12-01 09:00:00Z`. */
function formatTime(milliseconds: number): string {
  return `${new Date(milliseconds).toISOString().slice(0, 19).replace("T", " ")}Z`;
}
