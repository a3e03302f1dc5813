import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  ChatResponseSchema,
  EmbedResponseSchema,
  FinishReason,
  Role,
  type ChatResponse,
  type EmbedRequest,
  type EmbedResponse,
} from "../../../gen/iir/inference/v1/inference_pb.js";
import { cacheResultHeader, type CacheResult, type CacheSettings } from "./cached-chat.js";
import { cacheScopeOf } from "./cache-policy.js";
import { embedCacheKeyFor } from "./embed-cache-key.js";

/** Wraps the router's Embed with the response cache. */
export interface CachedEmbed {
  embed(request: EmbedRequest, context: HandlerContext, answer: () => Promise<EmbedResponse>): Promise<EmbedResponse>;
}

// Marks a stored ChatResponse as the envelope of an EmbedResponse.
const envelopeId = "iir-embed-v1";

/**
 * Answers repeat embeddings requests from the same store as chat answers, under the caller's scope
 * (cache-policy.ts) and an `embed:` key (embed-cache-key.ts). Embeddings do not sample, so every
 * successful answer is stored unless the caller sends `Cache-Control: no-store`; `no-cache` skips
 * the lookup. The store holds chat answers, so an embeddings answer travels in one: its protobuf
 * bytes (packed floats) as the text of a single choice. In memory that is one flat string instead of
 * thousands of boxed numbers, and Redis stores it as it stores any answer.
 */
export function createCachedEmbed(settings: CacheSettings | undefined): CachedEmbed {
  const report = (context: HandlerContext, result: CacheResult) => {
    context.responseHeader.set(cacheResultHeader, result);
    settings?.onResult?.(result);
  };
  return {
    async embed(request, context, answer) {
      if (settings === undefined || settings.ttlSeconds <= 0) return answer();
      const directives = (context.requestHeader.get("cache-control") ?? "").toLowerCase();
      if (directives.includes("no-store")) {
        report(context, "bypass");
        return answer();
      }
      const key = `${cacheScopeOf(context, settings.scope ?? "key")}:${embedCacheKeyFor(request)}`;
      const stored = directives.includes("no-cache") ? undefined : await settings.store.get(key);
      const hit = stored === undefined ? undefined : openEnvelope(stored.response);
      if (hit !== undefined) {
        report(context, "hit");
        hit.cached = true;
        return hit;
      }
      report(context, "miss");
      const response = await answer();
      if (response.embeddings.length === request.inputs.length) {
        // As for chat answers, storing does not hold up the answer; the stores swallow their errors.
        void settings.store.set(key, { response: envelopeOf(response), expiresAt: Date.now() + settings.ttlSeconds * 1000 });
      }
      return response;
    },
  };
}

function envelopeOf(response: EmbedResponse): ChatResponse {
  const bytes = toBinary(EmbedResponseSchema, { ...response, cached: false });
  return create(ChatResponseSchema, {
    id: envelopeId,
    model: response.model,
    backend: response.backend,
    choices: [{ index: 0, finishReason: FinishReason.STOP, message: { role: Role.ASSISTANT, content: { case: "text", value: Buffer.from(bytes).toString("base64") } } }],
  });
}

/** The EmbedResponse an envelope holds; undefined for anything else (a miss). */
function openEnvelope(response: ChatResponse): EmbedResponse | undefined {
  const content = response.choices[0]?.message?.content;
  if (response.id !== envelopeId || response.choices.length !== 1 || content?.case !== "text") return undefined;
  try {
    return fromBinary(EmbedResponseSchema, Buffer.from(content.value, "base64"));
  } catch {
    return undefined;
  }
}
