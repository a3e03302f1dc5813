import { randomUUID } from "node:crypto";

const maximumLength = 128;

/**
 * The request id the facade answers in `x-request-id`: the client's own when it is sane (so a
 * caller can follow its id through our logs), else a fresh UUID. Sane means 1–128 characters of
 * letters, digits and `-_.:`; anything else could smuggle odd bytes into logs and headers.
 */
export function resolveRequestId(clientValue: string | string[] | undefined): string {
  if (typeof clientValue === "string" && isSaneRequestId(clientValue)) return clientValue;
  return randomUUID();
}

/** Whether a client-sent id may be echoed and logged as it is. */
export function isSaneRequestId(value: string): boolean {
  const length = value.length;
  if (length === 0 || length > maximumLength) return false;
  for (let index = 0; index < length; index++) {
    const code = value.charCodeAt(index);
    const allowed =
      (code >= 48 && code <= 58) || // 0-9 and ':'
      (code >= 65 && code <= 90) || // A-Z
      (code >= 97 && code <= 122) || // a-z
      code === 45 || // -
      code === 46 || // .
      code === 95; // _
    if (!allowed) return false;
  }
  return true;
}

/** A fresh OpenAI-style completion id, `chatcmpl-` and 32 hex digits. */
export function createCompletionId(): string {
  return `chatcmpl-${randomUUID().replaceAll("-", "")}`;
}

/** Whether a value may go into a response header as it is: printable ASCII only, at most 256 characters. */
export function isHeaderSafe(value: string): boolean {
  if (value.length > 256) return false;
  for (let index = 0; index < value.length; index++) {
    const code = value.charCodeAt(index);
    if (code < 32 || code > 126) return false;
  }
  return true;
}
