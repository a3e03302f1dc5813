import type { ServerResponse } from "node:http";
import { ConnectError } from "@connectrpc/connect";
import { backendWaitTrailer, modelLabelHeader } from "../services/common/telemetry/mesh-headers.js";
import type { RequestFacts } from "./app.js";

// The router's answer to who called (the API key's name: never the key) and its rate-limit headers.
const apiKeyNameHeader = "iir-api-key-name";
const rateLimitHeaders = [
  "x-ratelimit-limit-requests",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-reset-requests",
  "x-ratelimit-limit-tokens",
  "x-ratelimit-remaining-tokens",
  "x-ratelimit-reset-tokens",
] as const;
// Client headers llm-d's scheduler reads: its InferenceObjective (priority class) and session affinity.
const llmdSchedulingHeaders = ["x-llm-d-inference-objective", "x-session-token"] as const;

/**
 * Reads what the router said about a request beside its answer (the model's metric label, the time
 * it waited on backends, the API key's name) from response headers, trailers, or a failed call's
 * error metadata; and passes its OpenAI rate-limit headers on to the client's response.
 */
export function readRouterMetadata(facts: RequestFacts, headers: Headers, response?: ServerResponse): void {
  const label = headers.get(modelLabelHeader);
  if (label !== null) facts.modelLabel = label;
  const wait = Number(headers.get(backendWaitTrailer) ?? Number.NaN);
  if (Number.isFinite(wait) && wait >= 0) facts.backendMs = wait;
  const keyName = headers.get(apiKeyNameHeader);
  if (keyName !== null) facts.keyName = keyName;
  if (response === undefined || response.headersSent) return;
  for (const name of rateLimitHeaders) {
    const value = headers.get(name);
    if (value !== null) response.setHeader(name, value);
  }
}

/** {@link readRouterMetadata} for a failed router call. */
export function readRouterErrorMetadata(facts: RequestFacts, error: unknown, response?: ServerResponse): void {
  if (error instanceof ConnectError) readRouterMetadata(facts, error.metadata, response);
}

/**
 * The request headers of a router call made for a client's request: the client's bearer (the
 * router checks API keys and rate limits), its cache directives, llm-d scheduling headers, the request
 * id and trace context.
 */
export function routerCallHeaders(request: { headers: Record<string, string | string[] | undefined> }, facts: RequestFacts): Record<string, string> {
  const headers: Record<string, string> = { ...facts.traceHeaders, "x-request-id": facts.requestId };
  const { authorization, "cache-control": cacheControl, "x-iir-cache-sampled": cacheSampled } = request.headers;
  if (typeof authorization === "string") headers.authorization = authorization;
  // The client's cache directives (no-cache, no-store) and its opt-in to caching sampled answers reach the router's cache.
  if (typeof cacheControl === "string") headers["cache-control"] = cacheControl;
  if (typeof cacheSampled === "string") headers["iir-cache-sampled"] = cacheSampled;
  // llm-d's scheduling hints; the router checks them and passes them on to llm-d targets only.
  for (const name of llmdSchedulingHeaders) {
    const value = request.headers[name];
    if (typeof value === "string") headers[name] = value;
  }
  return headers;
}
