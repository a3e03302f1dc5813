import { ConnectError } from "@connectrpc/connect";
import type { NextFunction, Request, Response } from "express";
import type { FacadeDeps, RequestFacts } from "../app.js";
import { errorAnswerFromUnknown } from "../errors.js";
import { relayRouterStream } from "../relay-router-stream.js";
import { readJsonBody } from "../read-json-body.js";
import { readRouterErrorMetadata, readRouterMetadata, routerCallHeaders } from "../router-metadata.js";
import { createCompletionId, isHeaderSafe } from "../request-id.js";
import { sendJson } from "../send-json.js";
import { createSseWriter } from "../sse-writer.js";
import { chatParamsFromOpenAIRequest, type ConvertedChatRequest } from "../translate/convert-from-openai-request.js";
import { chatCompletionFromResponse } from "../translate/convert-to-openai-response.js";
import { abortOnClose } from "./models.js";

/** Response header the router sets to say what its cache did (hit, miss, bypass). */
export const cacheHeader = "iir-cache";

/**
 * `POST /v1/chat/completions`: OpenAI JSON → ChatParams → the router's Chat or ChatStream → OpenAI
 * JSON or SSE. The client going away aborts the router call, which aborts the backend's work.
 */
export function createChatCompletionsHandler(deps: FacadeDeps) {
  return async (request: Request, response: Response, next: NextFunction) => {
    const facts = response.locals.facts as RequestFacts;
    let converted: ConvertedChatRequest;
    try {
      const body = await readJsonBody(request, deps.maxBodyBytes);
      if (deps.logPrompts === true) facts.messages = (body as { messages?: unknown } | null)?.messages;
      converted = chatParamsFromOpenAIRequest(body);
    } catch (error) {
      next(error);
      return;
    }
    facts.model = converted.params.model;
    facts.stream = converted.stream;
    const signal = abortOnClose(response);
    const headers = routerCallHeaders(request, facts);
    const readHeader = (received: Headers) => {
      readRouterMetadata(facts, received, response);
      const cache = received.get(cacheHeader);
      if (cache !== null) {
        facts.cache = cache;
        response.setHeader("x-iir-cache", cache);
      }
    };
    const identity = { id: createCompletionId(), created: Math.floor(Date.now() / 1000), requestedModel: converted.params.model };
    if (!converted.stream) {
      try {
        const { header, trailer, message: answer } = await deps.router.chat({ $typeName: "iir.inference.v1.ChatRequest", params: converted.params }, signal, headers);
        readHeader(header);
        readRouterMetadata(facts, trailer);
        facts.backend = answer.backend;
        facts.firstTokenMs = performance.now() - facts.startedAt;
        facts.promptTokens = answer.usage?.promptTokens;
        facts.completionTokens = answer.usage?.completionTokens;
        if (answer.backend !== "" && isHeaderSafe(answer.backend)) response.setHeader("x-iir-backend", answer.backend);
        sendJson(response, 200, chatCompletionFromResponse(answer, identity));
      } catch (error) {
        readRouterErrorMetadata(facts, error, response);
        if (!signal.aborted) next(error);
      }
      return;
    }
    const writer = createSseWriter(response, { ...identity, includeUsage: converted.includeUsage });
    await relayRouterStream({
      open: () => deps.router.chatStream({ $typeName: "iir.inference.v1.ChatStreamRequest", params: converted.params }, signal, headers),
      onHeader: readHeader,
      writer,
      response,
      signal,
      onError(error) {
        if (!writer.started) next(error);
        // After the 200 went out, an error can only be one last event (OpenAI's mid-stream error shape).
        else writer.fail(errorAnswerFromUnknown(ConnectError.from(error)).body);
      },
    });
  };
}
