/**
 * Small checks for JSON an upstream sent. Upstream bodies are `unknown` until these have looked at
 * them; translators read fields through them instead of casting.
 */

/** A JSON object (not null, not an array). */
export type JsonRecord = Record<string, unknown>;

/** Whether a parsed JSON value is an object with fields. */
export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value when it is a string, otherwise the fallback. */
export function stringOr(value: unknown, fallback: string): string {
  return typeof value === "string" ? value : fallback;
}

/** A count from a usage block: a finite number, truncated to an integer; anything else is 0. */
export function countOf(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? Math.trunc(value) : 0;
}

/** Parses JSON without throwing; `undefined` when the text is not JSON. */
export function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
