import { ConnectError } from "@connectrpc/connect";
import { backendWaitTrailer, modelLabelHeader } from "../services/common/telemetry/mesh-headers.js";
import type { RequestFacts } from "./app.js";

/**
 * Reads what the router said about a request beside its answer (the model's metric label, the time
 * it waited on backends) from response headers, trailers, or a failed call's error metadata.
 */
export function readRouterMetadata(facts: RequestFacts, headers: Headers): void {
  const label = headers.get(modelLabelHeader);
  if (label !== null) facts.modelLabel = label;
  const wait = Number(headers.get(backendWaitTrailer) ?? Number.NaN);
  if (Number.isFinite(wait) && wait >= 0) facts.backendMs = wait;
}

/** {@link readRouterMetadata} for a failed router call. */
export function readRouterErrorMetadata(facts: RequestFacts, error: unknown): void {
  if (error instanceof ConnectError) readRouterMetadata(facts, error.metadata);
}
