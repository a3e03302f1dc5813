import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import type { Request, Response } from "express";
import { RegistryStatusSchema, type RegistryService } from "../../gen/iir/registry/v1/registry_pb.js";
import type { RequestFacts } from "../app.js";
import { registryStatusToJson } from "../registry-status-json.js";
import { routerCallHeaders } from "../router-metadata.js";
import { sendJson } from "../send-json.js";
import { abortOnClose } from "./models.js";

/**
 * `POST /v1/registry/refresh` and `GET /v1/registry/status`: the router's RegistryService
 * RefreshRegistry / GetRegistryStatus as JSON. The caller's bearer goes to the router, which
 * wants the admin token (IIR_ADMIN_TOKEN); its refusal comes back as a 401/403 OpenAI error.
 */
export function createRegistryRoutes(registry: Client<typeof RegistryService>) {
  const options = (request: Request, response: Response) => ({
    signal: abortOnClose(response),
    headers: routerCallHeaders(request, response.locals.facts as RequestFacts),
  });
  return {
    async refresh(request: Request, response: Response) {
      const answer = await registry.refreshRegistry({}, options(request, response));
      sendJson(response, 200, registryStatusToJson(answer.status ?? create(RegistryStatusSchema)));
    },
    async status(request: Request, response: Response) {
      const answer = await registry.getRegistryStatus({}, options(request, response));
      sendJson(response, 200, registryStatusToJson(answer.status ?? create(RegistryStatusSchema)));
    },
  };
}
