import type { NextFunction, Request, Response } from "express";
import type { FacadeDeps, RequestFacts } from "../app.js";
import { readJsonBody } from "../read-json-body.js";
import { isHeaderSafe } from "../request-id.js";
import { readRouterErrorMetadata, readRouterMetadata, routerCallHeaders } from "../router-metadata.js";
import { sendJson } from "../send-json.js";
import { embedRequestFromOpenAI, type ConvertedEmbeddingsRequest } from "../translate/embeddings/convert-from-openai-embeddings-request.js";
import { embeddingsResponseToOpenAI } from "../translate/embeddings/convert-to-openai-embeddings.js";
import { cacheHeader } from "../relay-router-answer.js";
import { abortOnClose } from "./models.js";

/**
 * `POST /v1/embeddings`: OpenAI JSON → EmbedRequest → the router's Embed → OpenAI's `list` of
 * embeddings, as floats or base64. The client going away aborts the router call.
 */
export function createEmbeddingsHandler(deps: Pick<FacadeDeps, "inference" | "maxBodyBytes" | "logPrompts">) {
  return async (request: Request, response: Response, next: NextFunction) => {
    const facts = response.locals.facts as RequestFacts;
    let converted: ConvertedEmbeddingsRequest;
    try {
      const body = await readJsonBody(request, deps.maxBodyBytes);
      if (deps.logPrompts === true) facts.messages = (body as { input?: unknown } | null)?.input;
      converted = embedRequestFromOpenAI(body);
    } catch (error) {
      next(error);
      return;
    }
    facts.model = converted.request.model;
    facts.stream = false;
    const signal = abortOnClose(response);
    const onHeader = (headers: Headers) => {
      readRouterMetadata(facts, headers, response);
      const cache = headers.get(cacheHeader);
      if (cache !== null) {
        facts.cache = cache;
        response.setHeader("x-iir-cache", cache);
      }
    };
    try {
      const answer = await deps.inference.embed(converted.request, {
        signal,
        headers: routerCallHeaders(request, facts),
        onHeader,
        onTrailer: (trailer) => readRouterMetadata(facts, trailer),
      });
      facts.backend = answer.backend;
      facts.firstTokenMs = performance.now() - facts.startedAt;
      facts.promptTokens = answer.usage?.promptTokens;
      facts.completionTokens = 0;
      if (answer.backend !== "" && isHeaderSafe(answer.backend)) response.setHeader("x-iir-backend", answer.backend);
      sendJson(response, 200, embeddingsResponseToOpenAI(answer, converted.encoding, converted.request.model));
    } catch (error) {
      readRouterErrorMetadata(facts, error, response);
      if (!signal.aborted) next(error);
    }
  };
}
