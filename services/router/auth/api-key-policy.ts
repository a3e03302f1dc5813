import type { DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor, type StreamResponse, type UnaryResponse } from "@connectrpc/connect";
import { InferenceService, type ChatResponse, type ChatStreamResponse, type EmbedResponse } from "../../../gen/iir/inference/v1/inference_pb.js";
import { gatewayConnectError } from "../../common/errors.js";
import { bearerToken } from "../../common/mesh-tokens.js";
import { observeIterable } from "../../common/telemetry/observe-iterable.js";
import { digestApiKey, redactPresentedKey } from "../registry/api-key-secret.js";
import { formatResetDuration, retryAfterSeconds, setRateLimitHeaders } from "../rate-limit/rate-limit-headers.js";
import type { RateLimitDecision, RateLimits, RateLimitStore } from "../rate-limit/rate-limit-store.js";
import { createConcurrencyLimiter, type ConcurrencyLimiter, type ReleaseSlot } from "../rate-limit/concurrency-limiter.js";
import type { ActiveApiKey, ApiKeyStore } from "./api-key-store.js";
import { callerKey, type Caller } from "./caller.js";

/** Response header naming the API key a call was made with (the facade logs it; never the key). */
export const apiKeyNameHeader = "iir-api-key-name";

/** Options of {@link createApiKeyPolicy}. */
export interface ApiKeyPolicyOptions {
  readonly keys: Pick<ApiKeyStore, "find" | "anyKeys">;
  /** Require a key even while none was ever created (IIR_REQUIRE_AUTH); otherwise an empty key table means an open router. */
  readonly requireAuth: boolean;
  readonly rateLimits: RateLimitStore;
  /** Limits for keys without their own (RATE_LIMIT_REQUESTS, RATE_LIMIT_TOKENS, RATE_LIMIT_CONCURRENT). */
  readonly defaults: PolicyDefaults;
  /** Counts chat calls in flight per key; default: a fresh one in this router's memory (Redis shares one across replicas). */
  readonly concurrency?: ConcurrencyLimiter;
}

/** The router's limits for keys created without their own. */
export interface PolicyDefaults extends RateLimits {
  /** Chat calls of one key in flight at once; undefined: no cap. */
  readonly concurrent?: number | undefined;
}

// OpenAI's own wording, so clients and people recognise the situation; the "where to get a key" part is ours.
const missingKeyMessage =
  "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth " +
  "(i.e. Authorization: Bearer YOUR_KEY). An administrator can create one with `iir keys create --name NAME`.";

const openCaller: Caller = Object.freeze({ keyId: undefined, keyName: undefined });
// Calls that spend a key's budgets and slots: answers and embeddings (whose usage counts its tokens).
const chatMethods = new Set<string>([InferenceService.method.chat.name, InferenceService.method.chatStream.name, InferenceService.method.embed.name]);

/**
 * The one policy point of the mesh, as a Connect interceptor on the router's InferenceService,
 * whichever way a call arrives (the facade in-process or over gRPC, any gRPC or Connect client).
 * Once a key was ever created (or with `requireAuth`), a call needs `authorization: Bearer <key>`
 * naming a non-revoked key, else Unauthenticated; the key is looked up by its SHA-256 digest and a
 * wrong one is echoed only as `iir-...abcd`. A chat call then takes one of the key's slots for calls
 * in flight (a stream keeps it until its last part, its failure, the caller's return() or the
 * call's signal aborting; counted in Redis across replicas when REDIS_URL is set, else in this
 * router's memory) and spends
 * the key's per-minute budgets (requests at admission, prompt + completion tokens when the answer's
 * usage is known): refused calls get ResourceExhausted with `retry-after` (and OpenAI's
 * `x-ratelimit-*` metadata for the per-minute budgets), admitted ones carry the `x-ratelimit-*`
 * headers. The caller lands in the context values (`callerKey`).
 */
export function createApiKeyPolicy(options: ApiKeyPolicyOptions): Interceptor {
  const concurrency = options.concurrency ?? createConcurrencyLimiter();
  return (next) => async (request) => {
    if (request.service.typeName !== InferenceService.typeName) return next(request);
    const key = authenticate(options, request.header);
    request.contextValues.set(callerKey, key === undefined ? openCaller : { keyId: key.id, keyName: key.name });
    if (key === undefined) return next(request);
    const chat = chatMethods.has(request.method.name);
    let release: ReleaseSlot | undefined;
    let admitted;
    let response;
    try {
      // The slot first: a call refused for want of one spends nothing of the per-minute budgets.
      release = chat ? await takeSlot(concurrency, key, options.defaults.concurrent, request.signal) : undefined;
      admitted = chat ? await admit(options, key) : undefined;
      response = await next(request);
    } catch (error) {
      release?.();
      // Refused or failed, the facade's log line still names the key.
      if (error instanceof ConnectError) error.metadata.set(apiKeyNameHeader, key.name);
      throw error;
    }
    response.header.set(apiKeyNameHeader, key.name);
    if (admitted !== undefined) setRateLimitHeaders(response.header, admitted.limits, admitted.decision);
    const spend = admitted?.limits.tokens === undefined ? undefined : (tokens: number) => {
      // Nothing here may fail the finished call; the Redis store logs its own trouble.
      if (tokens > 0) options.rateLimits.addTokens(key.id, tokens).catch(() => undefined);
    };
    if (response.stream) return spend === undefined && release === undefined ? response : observeStream(response, spend, release);
    if (spend !== undefined) countTokens(response, spend);
    release?.();
    return response;
  };
}

/**
 * Takes one of the key's slots for calls in flight, freed by the call's end or by its signal (the
 * client went away, the deadline passed): over HTTP/2 Connect's server may never close a stream
 * whose client reset it while a write was pending, though it always aborts the signal. Undefined
 * when no cap applies. Throws ResourceExhausted.
 */
async function takeSlot(concurrency: ConcurrencyLimiter, key: ActiveApiKey, fallback: number | undefined, signal: AbortSignal): Promise<ReleaseSlot | undefined> {
  const limit = key.maxConcurrent ?? fallback;
  if (limit === undefined) return undefined;
  const release = await concurrency.acquire(key.id, limit);
  if (release !== undefined) {
    // Aborted while the slot was being taken: no abort event is coming any more.
    if (signal.aborted) release();
    else signal.addEventListener("abort", release, { once: true });
    return () => {
      signal.removeEventListener("abort", release);
      release();
    };
  }
  // A slot frees when a call in flight ends, which cannot be foretold: ask again in a second.
  throw gatewayConnectError(
    Code.ResourceExhausted,
    `Rate limit reached for concurrent requests on API key "${key.name}": Limit ${limit}, In flight ${limit}, Requested 1. ` +
      "Please try again once one of your requests in flight has finished.",
    { httpStatus: 429, type: "requests", code: "concurrency_limit_exceeded" },
    { "retry-after": "1" },
  );
}

/** The caller's key; undefined on an open router. Throws Unauthenticated. */
function authenticate(options: ApiKeyPolicyOptions, header: Headers): ActiveApiKey | undefined {
  if (!options.requireAuth && !options.keys.anyKeys()) return undefined;
  const presented = bearerToken(header.get("authorization"));
  if (presented === undefined) throw new ConnectError(missingKeyMessage, Code.Unauthenticated);
  const key = options.keys.find(digestApiKey(presented));
  if (key === undefined) {
    throw new ConnectError(`Incorrect API key provided: ${redactPresentedKey(presented)}. You can list your API keys with \`iir keys list\`.`, Code.Unauthenticated);
  }
  return key;
}

/** Admits one chat call against the key's budgets; undefined when no limit applies or the store cannot tell. Throws ResourceExhausted. */
async function admit(options: ApiKeyPolicyOptions, key: ActiveApiKey): Promise<{ limits: RateLimits; decision: RateLimitDecision } | undefined> {
  const limits: RateLimits = { requests: key.rpm ?? options.defaults.requests, tokens: key.tpm ?? options.defaults.tokens };
  if (limits.requests === undefined && limits.tokens === undefined) return undefined;
  const decision = await options.rateLimits.admit(key.id, limits);
  // The store could not tell (Redis down): the call goes ahead rather than fail.
  if (decision === undefined) return undefined;
  if (decision.refusedBy === undefined) return { limits, decision };
  const metadata = new Headers();
  setRateLimitHeaders(metadata, limits, decision);
  const window = decision.refusedBy === "requests" ? decision.requests : decision.tokens;
  metadata.set("retry-after", String(retryAfterSeconds(window.resetMs)));
  throw gatewayConnectError(
    Code.ResourceExhausted,
    refusalMessage(key, limits, decision),
    { httpStatus: 429, type: decision.refusedBy, code: "rate_limit_exceeded" },
    metadata,
  );
}

function countTokens(response: UnaryResponse<DescMessage, DescMessage>, spend: (tokens: number) => void): void {
  // A ChatResponse or an EmbedResponse: both carry their usage in `usage`.
  const usage = (response.message as unknown as ChatResponse | EmbedResponse).usage;
  if (usage !== undefined) spend(usage.promptTokens + usage.completionTokens);
}

/**
 * The stream, spending its tokens and freeing its slot at its end: observeIterable reports that
 * once, after the last part, a failure, or the caller's return() (the in-process transport's when
 * the facade's client went away; handlers that honour their signal fail then anyway).
 */
function observeStream(
  response: StreamResponse<DescMessage, DescMessage>,
  spend: ((tokens: number) => void) | undefined,
  release: ReleaseSlot | undefined,
): StreamResponse<DescMessage, DescMessage> {
  let tokens = 0;
  const message = observeIterable(response.message as unknown as AsyncIterable<ChatStreamResponse>, {
    value:
      spend === undefined
        ? undefined
        : (part) => {
            if (part.event.case === "usage") tokens += part.event.value.promptTokens + part.event.value.completionTokens;
          },
    end: () => {
      release?.();
      spend?.(tokens);
    },
  });
  return { ...response, message: message as unknown as StreamResponse<DescMessage, DescMessage>["message"] };
}

/** OpenAI's wording, with the key's name where OpenAI names the organisation. */
function refusalMessage(key: ActiveApiKey, limits: RateLimits, decision: RateLimitDecision): string {
  const retry = (resetMs: number) => `Please try again in ${formatResetDuration(resetMs)}.`;
  if (decision.refusedBy === "requests") {
    const { used, resetMs } = decision.requests;
    return `Rate limit reached for requests per min (RPM) on API key "${key.name}": Limit ${limits.requests}, Used ${used}, Requested 1. ${retry(resetMs)}`;
  }
  const { used, resetMs } = decision.tokens;
  return `Rate limit reached for tokens per min (TPM) on API key "${key.name}": Limit ${limits.tokens}, Used ${used}. ${retry(resetMs)}`;
}
