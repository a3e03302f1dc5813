import type { DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor, type StreamResponse, type UnaryResponse } from "@connectrpc/connect";
import { InferenceService, type ChatResponse, type ChatStreamResponse } from "../../../gen/iir/inference/v1/inference_pb.js";
import { gatewayConnectError } from "../../common/errors.js";
import { bearerToken } from "../../common/mesh-tokens.js";
import { observeIterable } from "../../common/telemetry/observe-iterable.js";
import { digestApiKey, redactPresentedKey } from "../registry/api-key-secret.js";
import { formatResetDuration, retryAfterSeconds, setRateLimitHeaders } from "../rate-limit/rate-limit-headers.js";
import type { RateLimitDecision, RateLimits, RateLimitStore } from "../rate-limit/rate-limit-store.js";
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
  /** Limits for keys without their own (RATE_LIMIT_REQUESTS, RATE_LIMIT_TOKENS). */
  readonly defaults: RateLimits;
}

// OpenAI's own wording, so clients and people recognise the situation; the "where to get a key" part is ours.
const missingKeyMessage =
  "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth " +
  "(i.e. Authorization: Bearer YOUR_KEY). An administrator can create one with `iir keys create --name NAME`.";

const openCaller: Caller = Object.freeze({ keyId: undefined, keyName: undefined });
const chatMethods = new Set<string>([InferenceService.method.chat.name, InferenceService.method.chatStream.name]);

/**
 * The one policy point of the mesh, as a Connect interceptor on the router's InferenceService,
 * whichever way a call arrives (the facade in-process or over gRPC, any gRPC or Connect client).
 * Once a key was ever created (or with `requireAuth`), a call needs `authorization: Bearer <key>`
 * naming a non-revoked key, else Unauthenticated; the key is looked up by its SHA-256 digest and a
 * wrong one is echoed only as `iir-...abcd`. Chat calls then spend the key's per-minute budgets
 * (requests at admission, prompt + completion tokens when the answer's usage is known): refused
 * calls get ResourceExhausted with `retry-after` and OpenAI's `x-ratelimit-*` metadata, admitted
 * ones carry the `x-ratelimit-*` headers. The caller lands in the context values (`callerKey`).
 */
export function createApiKeyPolicy(options: ApiKeyPolicyOptions): Interceptor {
  return (next) => async (request) => {
    if (request.service.typeName !== InferenceService.typeName) return next(request);
    const key = authenticate(options, request.header);
    request.contextValues.set(callerKey, key === undefined ? openCaller : { keyId: key.id, keyName: key.name });
    if (key === undefined) return next(request);
    const admitted = chatMethods.has(request.method.name) ? await admit(options, key) : undefined;
    let response;
    try {
      response = await next(request);
    } catch (error) {
      if (error instanceof ConnectError) error.metadata.set(apiKeyNameHeader, key.name);
      throw error;
    }
    response.header.set(apiKeyNameHeader, key.name);
    if (admitted === undefined) return response;
    setRateLimitHeaders(response.header, admitted.limits, admitted.decision);
    if (admitted.limits.tokens === undefined) return response;
    const spend = (tokens: number) => {
      // Nothing here may fail the finished call; the Redis store logs its own trouble.
      if (tokens > 0) options.rateLimits.addTokens(key.id, tokens).catch(() => undefined);
    };
    return response.stream ? countStreamTokens(response, spend) : countTokens(response, spend);
  };
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

function countTokens(response: UnaryResponse<DescMessage, DescMessage>, spend: (tokens: number) => void): UnaryResponse<DescMessage, DescMessage> {
  const usage = (response.message as unknown as ChatResponse).usage;
  if (usage !== undefined) spend(usage.promptTokens + usage.completionTokens);
  return response;
}

function countStreamTokens(response: StreamResponse<DescMessage, DescMessage>, spend: (tokens: number) => void): StreamResponse<DescMessage, DescMessage> {
  let tokens = 0;
  const message = observeIterable(response.message as unknown as AsyncIterable<ChatStreamResponse>, {
    value: (part) => {
      if (part.event.case === "usage") tokens += part.event.value.promptTokens + part.event.value.completionTokens;
    },
    end: () => spend(tokens),
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
