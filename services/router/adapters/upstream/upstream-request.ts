import type { ChatTarget } from "../adapter.js";
import type { UpstreamRequest } from "./upstream-client.js";

/** Where a base URL's endpoint is: parsed once per base URL and path. */
export interface UpstreamEndpoint {
  /** `https://api.openai.com` */
  readonly origin: string;
  /** `/v1/chat/completions`, with the base URL's query if it has one. */
  readonly path: string;
  /** Credentials in the URL (`https://user:pass@host`) as a Basic authorization value. */
  readonly basicAuth: string | undefined;
}

const endpoints = new Map<string, UpstreamEndpoint>();
// Base URLs come from configuration and the registry; this only bounds a registry that churns.
const maximumEndpoints = 1000;

/** The endpoint `suffix` (e.g. `/chat/completions`) under `baseUrl`; throws for a base URL that is not http(s). */
export function endpointOf(baseUrl: string, suffix: string): UpstreamEndpoint {
  const key = `${baseUrl}\n${suffix}`;
  let endpoint = endpoints.get(key);
  if (endpoint === undefined) {
    const base = new URL(baseUrl);
    if (base.protocol !== "http:" && base.protocol !== "https:") throw new Error(`the base URL's scheme ${base.protocol} is not http or https`);
    const path = `${base.pathname.replace(/\/+$/, "")}${suffix}${base.search}`;
    const user = base.username === "" ? undefined : `${decodeURIComponent(base.username)}:${decodeURIComponent(base.password)}`;
    endpoint = { origin: base.origin, path, basicAuth: user === undefined ? undefined : Buffer.from(user).toString("base64") };
    if (endpoints.size >= maximumEndpoints) endpoints.clear();
    endpoints.set(key, endpoint);
  }
  return endpoint;
}

// Headers the request itself sets (and hop-by-hop ones): one passed along under these names is left out.
const ownHeaders = new Set(["host", "content-type", "content-length", "accept", "authorization", "connection", "transfer-encoding", "keep-alive", "upgrade", "te", "proxy-authorization", "expect"]);

/**
 * A POST of JSON to `endpoint`: the headers passed along with the target (its trace context) first,
 * then the request's own, which no passed header may replace. `auth` is the provider's credentials
 * header; without one, the base URL's user and password go as Basic authorization.
 */
export function jsonPost(endpoint: UpstreamEndpoint, target: ChatTarget, body: string, auth: Record<string, string> | undefined, accept: string): UpstreamRequest {
  const headers: Record<string, string> = {};
  const passed = target.headers;
  if (passed !== undefined) {
    for (const name in passed) {
      if (!ownHeaders.has(name.toLowerCase())) headers[name] = passed[name]!;
    }
  }
  if (auth !== undefined) Object.assign(headers, auth);
  else if (endpoint.basicAuth !== undefined) headers.authorization = `Basic ${endpoint.basicAuth}`;
  headers["content-type"] = "application/json";
  headers.accept = accept;
  return { origin: endpoint.origin, path: endpoint.path, headers, body };
}
