import { ConnectError } from "@connectrpc/connect";
import type { NextFunction, Request, Response } from "express";
import type { FacadeDeps, RequestFacts } from "../app.js";
import { errorAnswerFromUnknown } from "../errors.js";
import { answerRouterChat, relayRouterStream } from "../relay-router-answer.js";
import { readJsonBody } from "../read-json-body.js";
import { routerCallHeaders } from "../router-metadata.js";
import { sendJson } from "../send-json.js";
import { completionsParamsFromOpenAIRequest, type ConvertedCompletionsRequest } from "../translate/completions/convert-from-openai-completions-request.js";
import { textCompletionFromResponse } from "../translate/completions/convert-to-openai-completion.js";
import { createTextCompletionStreamWriter } from "../translate/completions/text-completion-stream-writer.js";
import { abortOnClose } from "./models.js";

/**
 * `POST /v1/completions` (OpenAI's legacy text completions): the request becomes ChatParams with a
 * raw `prompt` and no messages, goes through the router's Chat or ChatStream like a chat request
 * (same routing, cache, keys and limits), and comes back as `text_completion` JSON or SSE.
 */
export function createCompletionsHandler(deps: FacadeDeps) {
  return async (request: Request, response: Response, next: NextFunction) => {
    const facts = response.locals.facts as RequestFacts;
    let converted: ConvertedCompletionsRequest;
    try {
      const body = await readJsonBody(request, deps.maxBodyBytes);
      if (deps.logPrompts === true) facts.messages = (body as { prompt?: unknown } | null)?.prompt;
      converted = completionsParamsFromOpenAIRequest(body);
    } catch (error) {
      next(error);
      return;
    }
    facts.model = converted.params.model;
    facts.stream = converted.stream;
    const signal = abortOnClose(response);
    const headers = routerCallHeaders(request, facts);
    const identity = { id: `cmpl-${crypto.randomUUID().replaceAll("-", "")}`, created: Math.floor(Date.now() / 1000), requestedModel: converted.params.model };
    if (!converted.stream) {
      await answerRouterChat({
        open: () => deps.router.chat({ $typeName: "iir.inference.v1.ChatRequest", params: converted.params }, signal, headers),
        response,
        signal,
        send: (answer) => sendJson(response, 200, textCompletionFromResponse(answer, identity)),
        onError: next,
      });
      return;
    }
    const writer = createTextCompletionStreamWriter(response, { ...identity, includeUsage: converted.includeUsage });
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
