import { ConnectError } from "@connectrpc/connect";
import type { NextFunction, Request, Response } from "express";
import type { FacadeDeps, RequestFacts } from "../app.js";
import { errorAnswerFromUnknown } from "../errors.js";
import { readJsonBody } from "../read-json-body.js";
import { createCompletionId, isHeaderSafe } from "../request-id.js";
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
      converted = chatParamsFromOpenAIRequest(await readJsonBody(request, deps.maxBodyBytes));
    } catch (error) {
      next(error);
      return;
    }
    facts.model = converted.params.model;
    facts.stream = converted.stream;
    const signal = abortOnClose(response);
    const callOptions = { signal, headers: { "x-request-id": facts.requestId } };
    const identity = { id: createCompletionId(), created: Math.floor(Date.now() / 1000), requestedModel: converted.params.model };
    if (!converted.stream) {
      try {
        const answer = await deps.inference.chat({ params: converted.params }, callOptions);
        facts.backend = answer.backend;
        if (answer.backend !== "" && isHeaderSafe(answer.backend)) response.setHeader("x-iir-backend", answer.backend);
        sendJson(response, 200, chatCompletionFromResponse(answer, identity));
      } catch (error) {
        if (!signal.aborted) next(error);
      }
      return;
    }
    const writer = createSseWriter(response, { ...identity, includeUsage: converted.includeUsage });
    try {
      for await (const part of deps.inference.chatStream({ params: converted.params }, callOptions)) {
        if (!writer.started) facts.backend = part.backend;
        const wait = writer.write(part);
        if (wait !== undefined) await wait;
        if (signal.aborted) return;
      }
      writer.finish();
    } catch (error) {
      if (signal.aborted) return;
      if (!writer.started) {
        next(error);
        return;
      }
      // After the 200 went out, an error can only be one last event (OpenAI's mid-stream error shape).
      writer.fail(errorAnswerFromUnknown(ConnectError.from(error)).body);
    }
  };
}
