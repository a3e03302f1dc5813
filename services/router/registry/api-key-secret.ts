import { createHash, randomBytes } from "node:crypto";

/** What every IIR API key starts with, so a leaked one is recognisable (secret scanners, logs). */
export const apiKeyPrefix = "iir-";

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const randomLength = 40;
// 62 × 4 = 248: bytes at or above it are drawn again, so every character is equally likely.
const unbiasedLimit = Math.floor(256 / alphabet.length) * alphabet.length;

/** A new key: `iir-` and 40 random base62 characters (about 238 bits). */
export function generateApiKey(): string {
  let text = apiKeyPrefix;
  while (text.length < apiKeyPrefix.length + randomLength) {
    for (const byte of randomBytes(randomLength)) {
      if (byte >= unbiasedLimit) continue;
      text += alphabet[byte % alphabet.length];
      if (text.length === apiKeyPrefix.length + randomLength) break;
    }
  }
  return text;
}

/** SHA-256 of a key: what the registry stores and the router looks keys up by. */
export function digestApiKey(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}

/** The stored form of a key's digest: lowercase hex. */
export function hashApiKey(key: string): string {
  return digestApiKey(key).toString("hex");
}

/** How a stored key is shown: `iir-…abcd`, its last 4 characters only. */
export function displayApiKey(lastFour: string): string {
  return `${apiKeyPrefix}…${lastFour}`;
}

/**
 * A presented key made safe to echo in an error: its first 4 and last 4 characters, like
 * `iir-...abcd`; short or odd values are not echoed at all.
 */
export function redactPresentedKey(key: string): string {
  if (key.length < 16 || !/^[\x21-\x7e]+$/.test(key)) return "(redacted)";
  return `${key.slice(0, 4)}...${key.slice(-4)}`;
}
