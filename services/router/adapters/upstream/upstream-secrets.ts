import { urlCredentials } from "../../../common/redact-url.js";
import type { ChatTarget } from "../adapter.js";

/** What an upstream's error messages may name, and what they must never quote. */
export interface UpstreamErrorContext {
  /** The provider, as messages name it (never its address). */
  readonly provider: string;
  /** IIR's credentials for it in every form an upstream may echo: the key, the base URL's user and password, their Basic form. */
  readonly secrets: readonly string[];
  /** Where an operator fixes those credentials (ChatTarget.credentialSource). */
  readonly credentialSource?: string;
}

// A secret this long is cut out where it appears; a shorter one (a test key, a user name) could be
// a common word, so a message quoting it is withheld whole rather than left half readable.
const minimumCutLength = 8;
const withheldMessage = "the provider's message was withheld: it quoted IIR's credentials for it";
// An authorization header as upstreams echo it, whatever credential it carries.
const bearerValue = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi;
const basicValue = /\b(Basic\s+)([A-Za-z0-9+/]{4,}={0,2})/gi;

/** The error context of a target; read only when an error is built, so the happy path never parses the URL. */
export function upstreamErrorContext(target: Pick<ChatTarget, "provider" | "apiKey" | "baseUrl" | "credentialSource">): UpstreamErrorContext {
  const secrets = urlCredentials(target.baseUrl);
  if (target.apiKey !== undefined && target.apiKey !== "") secrets.push(target.apiKey);
  // Longest first: `user:password` goes before the password inside it.
  secrets.sort((left, right) => right.length - left.length);
  return { provider: target.provider, secrets, credentialSource: target.credentialSource };
}

/**
 * A provider's text fit to quote: every credential of `secrets` cut out (or the whole text withheld
 * when a short one appears in it), and any `Bearer …` token or `Basic …` credential it echoes blanked.
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let clean = text;
  for (const secret of secrets) {
    if (secret === "" || !clean.includes(secret)) continue;
    if (secret.length < minimumCutLength) return withheldMessage;
    clean = clean.split(secret).join("[redacted]");
  }
  if (/bearer|basic/i.test(clean)) {
    clean = clean.replace(bearerValue, "$1[redacted]").replace(basicValue, (match, prefix: string, token: string) => (isBasicCredential(token) ? `${prefix}[redacted]` : match));
  }
  return clean;
}

// `Basic` is also a word; only base64 of `user:password` in printable text is a credential.
function isBasicCredential(token: string): boolean {
  if (token.length % 4 !== 0) return false;
  const decoded = Buffer.from(token, "base64").toString("latin1");
  return decoded.includes(":") && /^[\x20-\x7e]+$/.test(decoded);
}
