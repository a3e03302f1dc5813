/**
 * What the router tells its caller about a request, beside the answer. The facade reads them into
 * its metrics; other clients may ignore them.
 */

/** Response header: the model name to label metrics with, or {@link otherModelLabel}. */
export const modelLabelHeader = "iir-model-label";

/** Response trailer: milliseconds spent waiting on backends (adapter call to its last part), summed over attempts. */
export const backendWaitTrailer = "iir-backend-ms";

/**
 * The label of every model name the router does not know. Metric labels come only from the
 * registry and the agents, never from what a client typed, so a label set stays bounded.
 */
export const otherModelLabel = "other";
