import { ConnectError } from "@connectrpc/connect";
import type { NextFunction, Request, Response } from "express";
import type { FacadeDeps, RequestFacts } from "../app.js";
import { errorAnswerFromUnknown } from "../errors.js";
import { answerRouterChat, relayRouterStream } from "../relay-router-answer.js";
import { readJsonBody } from "../read-json-body.js";
import { routerCallHeaders } from "../router-metadata.js";
import { createCompletionId } from "../request-id.js";
import { sendJson } from "../send-json.js";
import { createSseWriter } from "../sse-writer.js";
import { chatParamsFromOpenAIRequest, type ConvertedChatRequest } from "../translate/convert-from-openai-request.js";
import { chatCompletionFromResponse } from "../translate/convert-to-openai-response.js";
import { abortOnClose } from "./models.js";

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
    const identity = { id: createCompletionId(), created: Math.floor(Date.now() / 1000), requestedModel: converted.params.model };
    if (!converted.stream) {
      await answerRouterChat({
        open: () => deps.router.chat({ $typeName: "iir.inference.v1.ChatRequest", params: converted.params }, signal, headers),
        response,
        signal,
        send: (answer) => sendJson(response, 200, chatCompletionFromResponse(answer, identity)),
        onError: next,
      });
      return;
    }
    const writer = createSseWriter(response, { ...identity, includeUsage: converted.includeUsage });
    await relayRouterStream({
      open: () => deps.router.chatStream({ $typeName: "iir.inference.v1.ChatStreamRequest", params: converted.params }, signal, headers),
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
