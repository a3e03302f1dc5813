import type { IncomingMessage, ServerResponse } from "node:http";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Client } from "@connectrpc/connect";
import type { InferenceService } from "../gen/iir/inference/v1/inference_pb.js";
import type { RegistryService } from "../gen/iir/registry/v1/registry_pb.js";
import { errorAnswerFromUnknown, OpenAIHttpError, sendErrorAnswer } from "./errors.js";
import { resolveRequestId } from "./request-id.js";
import { requestLogEntry, type RequestLogEntry, type RequestOutcome } from "./request-log.js";
import { createChatCompletionsHandler } from "./routes/chat-completions.js";
import { createCountTokensHandler, createMessagesHandler } from "./routes/messages.js";
import { createCompletionsHandler } from "./routes/completions.js";
import { createEmbeddingsHandler } from "./routes/embeddings.js";
import { createCorsPolicy, type CorsOrigins } from "./cors.js";
import { createModelRoutes } from "./routes/models.js";
import { createRegistryRoutes } from "./routes/registry.js";
import type { RouterChat } from "./router-chat.js";
import { sendJson } from "./send-json.js";
import type { RequestObserver } from "./telemetry/request-observer.js";
import type { TraceHeaders } from "../services/common/telemetry/tracing.js";

export type { RequestLogEntry } from "./request-log.js";

/** What the facade is built from; tests inject their own. */
export interface FacadeDeps {
  /** The router's InferenceService, in-process or over h2c. */
  readonly inference: Client<typeof InferenceService>;
  /** The same service's Chat and ChatStream, called on its transport directly (the hot path). */
  readonly router: RouterChat;
  readonly maxBodyBytes: number;
  /** The router's RegistryService, for the admin routes under /v1/registry; absent: no such routes. */
  readonly registry?: Client<typeof RegistryService>;
  /** Whether the router answers its health check. */
  readonly checkReady: () => Promise<boolean>;
  readonly log: (entry: RequestLogEntry) => void;
  /** Told about failures answered with a 5xx, which the client sees only as a generic message. */
  readonly logError?: (requestId: string, error: unknown) => void;
  /** Metrics and traces of each request; absent: none. */
  readonly observer?: RequestObserver;
  /** Answers `GET /metrics` (Prometheus text), outside authentication; absent: no such route. */
  readonly handleMetrics?: express.RequestHandler;
  /** Whether the request log holds the client's messages (LOG_PROMPTS). */
  readonly logPrompts?: boolean;
  /** Browser origins allowed by CORS (IIR_CORS_ORIGINS); absent: no CORS headers. */
  readonly corsOrigins?: CorsOrigins;
}

/** Per-request facts the routes fill in, read by the request log, metrics and rate limits when the response closes. */
export interface RequestFacts {
  requestId: string;
  /** performance.now() when the request arrived. */
  readonly startedAt: number;
  model?: string;
  backend?: string;
  stream?: boolean;
  /** Milliseconds from arrival to the first streamed delta (or the whole answer when not streaming). */
  firstTokenMs?: number;
  promptTokens?: number;
  completionTokens?: number;
  /** What the router's response cache did: hit, miss or bypass. */
  cache?: string;
  /** The API key's name when the request was authenticated. */
  keyName?: string;
  /** OpenAI error type of a failed request. */
  errorType?: string;
  /** The model's metric label as the router gave it: a name it knows, or "other". */
  modelLabel?: string;
  /** Milliseconds the router spent waiting on backends, as it reported. */
  backendMs?: number;
  /** The request span's trace context, for the router call (tracing on only). */
  traceHeaders?: TraceHeaders;
  /** The request's trace id, for the request log (tracing on only). */
  traceId?: string;
  /** The client's messages, kept only when LOG_PROMPTS is on. */
  messages?: unknown;
}

/** What every facade handler may use of a request: Node's own objects, plus express's `locals`. */
type Handler = (request: Request, response: Response, next: NextFunction) => unknown;

/** The path the chat completions route answers without express. */
const chatCompletionsPath = "/v1/chat/completions";

/**
 * The facade's request listener. `POST /v1/chat/completions`, the hot path, runs its handlers
 * (request bookkeeping, auth, rate limits, the route) directly; express's router, which walks every
 * layer and re-prototypes request and response, serves every other route. Both run the same
 * handlers, so answers, headers, logs and metrics are the same either way.
 */
export function createFacadeHandler(deps: FacadeDeps): (request: IncomingMessage, response: ServerResponse) => void {
  const app = createFacadeApp(deps);
  const chat: Handler[] = [createChatCompletionsHandler(deps)];
  const fail = (error: unknown, response: Response) => answerError(deps, error, response);
  const cors = createCorsPolicy(deps.corsOrigins);
  return (request, response) => {
    if (cors?.handle(request, response) === true) return;
    if (request.method !== "POST" || request.url !== chatCompletionsPath) {
      app(request, response);
      return;
    }
    const locals = { facts: beginRequest(deps, request, response) };
    Object.assign(response, { locals });
    runHandlers(chat, request as Request, response as Response, fail);
  };
}

/** The OpenAI REST facade as an express app. */
export function createFacadeApp(deps: FacadeDeps): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.set("query parser", false);
  app.use((request: Request, response: Response, next: NextFunction) => {
    response.locals.facts = beginRequest(deps, request, response);
    next();
  });
  app.get("/health", (_request, response) => sendJson(response, 200, { status: "ok" }));
  app.get("/ready", async (_request, response) => {
    const ready = await deps.checkReady();
    sendJson(response, ready ? 200 : 503, { status: ready ? "ready" : "router unavailable" });
  });
  if (deps.handleMetrics !== undefined) app.get("/metrics", deps.handleMetrics);
  app.post(chatCompletionsPath, createChatCompletionsHandler(deps));
  // Anthropic's Messages API, for any backend; its errors are in Anthropic's shape.
  app.post("/v1/messages", createMessagesHandler(deps));
  app.post("/v1/messages/count_tokens", createCountTokensHandler(deps));
  app.post("/v1/completions", createCompletionsHandler(deps));
  app.post("/v1/embeddings", createEmbeddingsHandler(deps));
  const models = createModelRoutes(deps.inference);
  app.get("/v1/models", models.list);
  app.get("/v1/models/*id", models.get);
  if (deps.registry !== undefined) {
    const registry = createRegistryRoutes(deps.registry);
    app.post("/v1/registry/refresh", registry.refresh);
    app.get("/v1/registry/status", registry.status);
  }
  app.use((request: Request, _response: Response, next: NextFunction) => {
    next(new OpenAIHttpError(404, `Invalid URL (${request.method} ${request.path})`, "invalid_request_error"));
  });
  app.use((error: unknown, _request: Request, response: Response, _next: NextFunction) => answerError(deps, error, response));
  return app;
}

/**
 * Starts a request's bookkeeping: its facts, its `x-request-id`, and, when the response closes, its
 * metrics, span and log line.
 */
function beginRequest(deps: FacadeDeps, request: IncomingMessage, response: ServerResponse): RequestFacts {
  const started = performance.now();
  const facts: RequestFacts = { requestId: resolveRequestId(request.headers["x-request-id"]), startedAt: started };
  response.setHeader("x-request-id", facts.requestId);
  const method = request.method ?? "GET";
  const path = pathOf(request.url ?? "/");
  const observed = deps.observer?.begin(request, facts, path);
  response.once("close", () => {
    const outcome: RequestOutcome = {
      method,
      path,
      status: response.writableFinished ? response.statusCode : 499,
      durationMs: performance.now() - started,
    };
    observed?.(outcome);
    deps.log(requestLogEntry(facts, outcome));
  });
  return facts;
}

/** Runs handlers in order, each calling `next()` to go on or `next(error)` to stop with an error. */
function runHandlers(handlers: readonly Handler[], request: Request, response: Response, fail: (error: unknown, response: Response) => void): void {
  let index = 0;
  const next: NextFunction = (error?: unknown) => {
    if (error !== undefined && error !== null) {
      fail(error, response);
      return;
    }
    const handler = handlers[index++];
    if (handler === undefined) return;
    try {
      const result = handler(request, response, next);
      if (result instanceof Promise) result.catch(next);
    } catch (thrown) {
      next(thrown);
    }
  };
  next();
}

/** The error answer of a failed request, in OpenAI's shape; after the headers went out, only a cut connection is left. */
function answerError(deps: FacadeDeps, error: unknown, response: Response): void {
  const answer = errorAnswerFromUnknown(error);
  const facts = response.locals.facts as RequestFacts | undefined;
  if (facts !== undefined) facts.errorType = answer.body.error.type;
  if (answer.status >= 500) deps.logError?.(facts?.requestId ?? "", error);
  if (response.headersSent) {
    response.destroy();
    return;
  }
  sendErrorAnswer(response, answer);
}

/** A request target's path, without its query. */
function pathOf(url: string): string {
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}
