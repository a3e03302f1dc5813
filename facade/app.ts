import express, { type NextFunction, type Request, type Response } from "express";
import type { Client } from "@connectrpc/connect";
import type { InferenceService } from "../gen/iir/inference/v1/inference_pb.js";
import { errorAnswerFromUnknown, OpenAIHttpError, sendErrorAnswer } from "./errors.js";
import { resolveRequestId } from "./request-id.js";
import { createChatCompletionsHandler } from "./routes/chat-completions.js";
import { createModelRoutes } from "./routes/models.js";
import { sendJson } from "./send-json.js";

/** One line about one finished request, for the request log. */
export interface RequestLogEntry {
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly durationMs: number;
  readonly model?: string;
  readonly backend?: string;
  readonly stream?: boolean;
}

/** What the facade is built from; tests inject their own. */
export interface FacadeDeps {
  /** The router's InferenceService, in-process or over h2c. */
  readonly inference: Client<typeof InferenceService>;
  readonly maxBodyBytes: number;
  /** Whether the router answers its health check. */
  readonly checkReady: () => Promise<boolean>;
  readonly log: (entry: RequestLogEntry) => void;
  /** Told about failures answered with a 5xx, which the client sees only as a generic message. */
  readonly logError?: (requestId: string, error: unknown) => void;
}

/** Per-request facts the routes fill in for the request log. */
export interface RequestFacts {
  requestId: string;
  model?: string;
  backend?: string;
  stream?: boolean;
}

/** The OpenAI REST facade as an express app. */
export function createFacadeApp(deps: FacadeDeps): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.set("query parser", false);
  app.use((request: Request, response: Response, next: NextFunction) => {
    const started = performance.now();
    const facts: RequestFacts = { requestId: resolveRequestId(request.headers["x-request-id"]) };
    response.locals.facts = facts;
    response.setHeader("x-request-id", facts.requestId);
    response.once("close", () =>
      deps.log({
        ...facts,
        method: request.method,
        path: request.path,
        status: response.writableFinished ? response.statusCode : 499,
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      }),
    );
    next();
  });
  app.get("/health", (_request, response) => sendJson(response, 200, { status: "ok" }));
  app.get("/ready", async (_request, response) => {
    const ready = await deps.checkReady();
    sendJson(response, ready ? 200 : 503, { status: ready ? "ready" : "router unavailable" });
  });
  app.post("/v1/chat/completions", createChatCompletionsHandler(deps));
  const models = createModelRoutes(deps.inference);
  app.get("/v1/models", models.list);
  app.get("/v1/models/*id", models.get);
  app.use((request: Request, _response: Response, next: NextFunction) => {
    next(new OpenAIHttpError(404, `Invalid URL (${request.method} ${request.path})`, "invalid_request_error"));
  });
  app.use((error: unknown, _request: Request, response: Response, _next: NextFunction) => {
    const answer = errorAnswerFromUnknown(error);
    if (answer.status >= 500) deps.logError?.((response.locals.facts as RequestFacts | undefined)?.requestId ?? "", error);
    if (response.headersSent) {
      response.destroy();
      return;
    }
    sendErrorAnswer(response, answer);
  });
  return app;
}
