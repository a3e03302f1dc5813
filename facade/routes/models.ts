import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { NextFunction, Request, Response } from "express";
import type { InferenceService, ModelInfo } from "../../gen/iir/inference/v1/inference_pb.js";
import { createRequestSignal } from "../../services/common/request-signal.js";
import { sendJson } from "../send-json.js";
import type { RequestFacts } from "../app.js";
import { readRouterErrorMetadata, readRouterMetadata, routerCallHeaders } from "../router-metadata.js";

/** `GET /v1/models` and `GET /v1/models/:id`, answered from the router's ListModels. */
export function createModelRoutes(inference: Client<typeof InferenceService>) {
  const fetchModels = async (request: Request, response: Response): Promise<ModelInfo[]> => {
    const signal = abortOnClose(response);
    const facts = response.locals.facts as RequestFacts;
    try {
      return (await inference.listModels({}, { signal, headers: routerCallHeaders(request, facts), onHeader: (headers) => readRouterMetadata(facts, headers, response) })).models;
    } catch (error) {
      readRouterErrorMetadata(facts, error, response);
      throw error;
    }
  };
  return {
    async list(request: Request, response: Response, next: NextFunction) {
      try {
        const models = await fetchModels(request, response);
        sendJson(response, 200, { object: "list", data: models.map(modelToOpenAI) });
      } catch (error) {
        next(error);
      }
    },
    async get(request: Request, response: Response, next: NextFunction) {
      // Model ids contain slashes (`openai/gpt-4o-mini`), so the route captures the rest of the path.
      const parts = (request.params as { id?: string[] }).id ?? [];
      const id = parts.join("/");
      try {
        const model = (await fetchModels(request, response)).find((candidate) => candidate.id === id);
        if (model === undefined) {
          throw new ConnectError(`The model '${id}' does not exist or you do not have access to it.`, Code.NotFound);
        }
        sendJson(response, 200, modelToOpenAI(model));
      } catch (error) {
        next(error);
      }
    },
  };
}

function modelToOpenAI(model: ModelInfo) {
  return { id: model.id, object: "model", created: Number(model.created), owned_by: model.ownedBy || model.provider || "iir" };
}

/** An AbortSignal that fires when the client goes away before the answer is written. */
export function abortOnClose(response: Response): AbortSignal {
  const signal = createRequestSignal();
  response.once("close", () => {
    if (!response.writableFinished) signal.abort();
  });
  return signal;
}
