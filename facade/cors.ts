import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * CORS for browser clients (IIR_CORS_ORIGINS). CORS is a handful of response headers, so this is a
 * small function rather than a dependency: preflights are answered here, before routing and before
 * authentication (browsers send them without credentials); every other answer from an allowed
 * origin, errors and streams included, carries `Access-Control-Allow-Origin`.
 */
export interface CorsPolicy {
  /**
   * Sets the CORS headers `request` calls for; true when the request was a preflight, answered here
   * (the caller stops), false when it goes on to its route.
   */
  handle(request: IncomingMessage, response: ServerResponse): boolean;
}

/** `*` (any origin), or the exact origins allowed (`https://app.example.com`). */
export type CorsOrigins = "*" | readonly string[];

const allowedMethods = "GET, POST, OPTIONS";
// Headers browsers may read from an answer besides the CORS-safelisted ones.
const exposedHeaders = "x-request-id, x-iir-backend, x-iir-cache, x-iir-route, retry-after";
// Headers allowed when a preflight names none: what OpenAI and Anthropic SDKs send.
const defaultAllowedHeaders = "authorization, content-type, x-api-key, anthropic-version, anthropic-beta, x-request-id, openai-organization, openai-project";
const maxAgeSeconds = "600";
// A preflight's Access-Control-Request-Headers echoed back: bounded, and only header-name characters.
const headerListPattern = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;
const maximumHeaderListLength = 2048;

/** The policy for `origins`; undefined (CORS off, the default) when there are none. */
export function createCorsPolicy(origins: CorsOrigins | undefined): CorsPolicy | undefined {
  if (origins === undefined || (origins !== "*" && origins.length === 0)) return undefined;
  const anyOrigin = origins === "*";
  const listed = new Set(anyOrigin ? [] : origins);
  return {
    handle(request, response) {
      const origin = request.headers.origin;
      const preflight = request.method === "OPTIONS" && request.headers["access-control-request-method"] !== undefined;
      const allowed = origin !== undefined && (anyOrigin || listed.has(origin));
      if (!anyOrigin) response.setHeader("vary", "Origin");
      if (allowed) {
        // With `*` no credentials, ever: any site could then act with a visitor's cookies.
        response.setHeader("access-control-allow-origin", anyOrigin ? "*" : origin);
        if (!anyOrigin) response.setHeader("access-control-allow-credentials", "true");
        if (!preflight) response.setHeader("access-control-expose-headers", exposedHeaders);
      }
      if (!preflight) return false;
      if (allowed) {
        response.setHeader("access-control-allow-methods", allowedMethods);
        response.setHeader("access-control-allow-headers", requestedHeaders(request.headers["access-control-request-headers"]));
        response.setHeader("access-control-max-age", maxAgeSeconds);
      }
      response.writeHead(204, { "content-length": "0" });
      response.end();
      return true;
    },
  };
}

/** The headers a preflight asked for (x-stainless-*, anything an SDK adds), or the usual ones. */
function requestedHeaders(value: string | string[] | undefined): string {
  const text = Array.isArray(value) ? value.join(", ") : value?.trim();
  if (text === undefined || text === "" || text.length > maximumHeaderListLength || !headerListPattern.test(text)) return defaultAllowedHeaders;
  return text;
}
