import { ConnectError } from "@connectrpc/connect";
import type { Request, Response } from "express";
import type { ChatParams } from "../../gen/iir/inference/v1/inference_pb.js";
import { anthropicErrorAnswerFromUnknown, sendAnthropicError, type AnthropicErrorOptions } from "../anthropic-errors.js";
import { answerRouterChat, relayRouterStream } from "../relay-router-answer.js";
import { createAnthropicSseWriter } from "../anthropic-sse-writer.js";
import type { FacadeDeps, RequestFacts } from "../app.js";
import { readJsonBody } from "../read-json-body.js";
import { isHeaderSafe } from "../request-id.js";
import { readRouterErrorMetadata, readRouterMetadata, routerCallHeaders } from "../router-metadata.js";
import { sendJson } from "../send-json.js";
import { chatParamsFromAnthropicRequest, type ConvertedMessagesRequest } from "../translate/anthropic/convert-from-anthropic-request.js";
import { anthropicMessageFromResponse, createMessageId } from "../translate/anthropic/convert-to-anthropic-response.js";
import { abortOnClose } from "./models.js";

// A count the router cannot make (the backend has no tokenizer to offer) is the client's 400: the
// request is valid, but this model cannot serve it; Anthropic has no 501.
const countTokensErrors: AnthropicErrorOptions = { unimplementedStatus: 400 };

/**
 * `POST /v1/messages`: Anthropic Messages JSON → ChatParams → the router's Chat or ChatStream →
 * Anthropic's message JSON or its SSE events, for any backend. Every error of the route is in
 * Anthropic's shape, never OpenAI's: this handler answers them all itself.
 */
export function createMessagesHandler(deps: FacadeDeps) {
  return async (request: Request, response: Response) => {
    const facts = response.locals.facts as RequestFacts;
    response.setHeader("request-id", facts.requestId);
    let converted: ConvertedMessagesRequest;
    try {
      const body = await readJsonBody(request, deps.maxBodyBytes);
      if (deps.logPrompts === true) facts.messages = (body as { messages?: unknown } | null)?.messages;
      converted = chatParamsFromAnthropicRequest(body);
    } catch (error) {
      answerError(deps, facts, response, error);
      return;
    }
    facts.model = converted.params.model;
    facts.stream = converted.stream;
    if (converted.stream) await streamMessage(deps, request, response, converted.params);
    else await answerMessage(deps, request, response, converted.params);
  };
}

/** `POST /v1/messages/count_tokens`: the router's CountTokens → `{"input_tokens": N}`. */
export function createCountTokensHandler(deps: FacadeDeps) {
  return async (request: Request, response: Response) => {
    const facts = response.locals.facts as RequestFacts;
    response.setHeader("request-id", facts.requestId);
    const signal = abortOnClose(response);
    try {
      const body = await readJsonBody(request, deps.maxBodyBytes);
      const { params } = chatParamsFromAnthropicRequest(body, { counting: true });
      facts.model = params.model;
      const counted = await deps.inference.countTokens(
        { params },
        { signal, headers: messagesRouterHeaders(request, facts), onHeader: (headers) => readRouterMetadata(facts, headers, response) },
      );
      facts.backend = counted.backend;
      facts.promptTokens = counted.inputTokens;
      if (counted.backend !== "" && isHeaderSafe(counted.backend)) response.setHeader("x-iir-backend", counted.backend);
      sendJson(response, 200, { input_tokens: counted.inputTokens });
    } catch (error) {
      readRouterErrorMetadata(facts, error, response);
      if (!signal.aborted) answerError(deps, facts, response, error, countTokensErrors);
    }
  };
}

/**
 * The router call's headers: as the OpenAI routes send them, and Anthropic's `x-api-key` as the
 * bearer when there is no Authorization header (the 0.x SDKs send the key there; 1.x sends Bearer).
 * `anthropic-version` and `anthropic-beta` are accepted and not passed on: the backend's own
 * adapter sends what its API needs.
 */
export function messagesRouterHeaders(request: Request, facts: RequestFacts): Record<string, string> {
  const headers = routerCallHeaders(request, facts);
  const apiKey = request.headers["x-api-key"];
  if (headers.authorization === undefined && typeof apiKey === "string" && apiKey !== "") headers.authorization = `Bearer ${apiKey}`;
  return headers;
}

async function answerMessage(deps: FacadeDeps, request: Request, response: Response, params: ChatParams): Promise<void> {
  const facts = response.locals.facts as RequestFacts;
  const signal = abortOnClose(response);
  await answerRouterChat({
    open: () => deps.router.chat({ params }, signal, messagesRouterHeaders(request, facts)),
    response,
    signal,
    send: (answer) => sendJson(response, 200, anthropicMessageFromResponse(answer, createMessageId(), params.model)),
    onError: (error) => answerError(deps, facts, response, error),
  });
}

async function streamMessage(deps: FacadeDeps, request: Request, response: Response, params: ChatParams): Promise<void> {
  const facts = response.locals.facts as RequestFacts;
  const signal = abortOnClose(response);
  // Usage is always asked for: Anthropic's message_delta carries it.
  const streamParams: ChatParams = { ...params, streamOptions: { $typeName: "iir.inference.v1.StreamOptions", includeUsage: true } };
  const writer = createAnthropicSseWriter(response, { id: createMessageId(), requestedModel: params.model });
  await relayRouterStream({
    open: () => deps.router.chatStream({ params: streamParams }, signal, messagesRouterHeaders(request, facts)),
    writer,
    response,
    signal,
    onError(error) {
      if (!writer.started) {
        answerError(deps, facts, response, error);
        return;
      }
      // After the 200 went out, an error can only be one last event, as Anthropic sends it.
      const answer = anthropicErrorAnswerFromUnknown(ConnectError.from(error), facts.requestId);
      facts.errorType = answer.body.error.type;
      if (answer.status >= 500) deps.logError?.(facts.requestId, error);
      writer.fail(answer.body);
    },
  });
}

/** The error answer, in Anthropic's shape; after the headers went out, only a cut connection is left. */
function answerError(deps: FacadeDeps, facts: RequestFacts, response: Response, error: unknown, options?: AnthropicErrorOptions): void {
  const answer = anthropicErrorAnswerFromUnknown(error, facts.requestId, options);
  facts.errorType = answer.body.error.type;
  if (answer.status >= 500) deps.logError?.(facts.requestId, error);
  if (response.headersSent) {
    response.destroy();
    return;
  }
  sendAnthropicError(response, answer);
}
