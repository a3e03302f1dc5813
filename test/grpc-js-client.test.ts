import test, { type ExecutionContext } from "ava";
import * as grpc from "@grpc/grpc-js";
import { call, clients } from "./support/grpc-js-clients.js";
import { startTestRouter } from "./support/router-fixture.js";
import { adminHeaders } from "./support/admin.js";

/** Where this file's clients reach a fresh real router. */
async function routerAddress(t: ExecutionContext): Promise<string> {
  return `127.0.0.1:${(await startTestRouter(t)).port}`;
}

test("grpc-js: health check says SERVING", async (t) => {
  const { health } = clients(t, await routerAddress(t));
  t.deepEqual(await call(health, "check", { service: "" }), { status: "SERVING" });
});

test("grpc-js: a model upserted through the registry is read back and listed for inference", async (t) => {
  const { inference, registry } = clients(t, await routerAddress(t));
  t.deepEqual(await call(inference, "listModels", {}), { models: [] });

  const model = { name: "llama-70b", provider: "groq", baseUrl: "https://api.groq.com/openai/v1", fallbacks: ["llama-8b"], contextLength: 8192, enabled: true };
  const upserted = await call(registry, "upsertModel", { model }, adminHeaders);
  t.like(upserted.model, model);

  const fetched = await call(registry, "getModel", { name: "llama-70b" });
  t.like(fetched.model, { ...model, apiKeyEnv: "" });
  t.not((fetched.model as { createdAt: string }).createdAt, "0", "the router stamps the creation time");

  const listed = (await call(inference, "listModels", {})) as { models: Array<Record<string, unknown>> };
  t.is(listed.models.length, 1);
  t.like(listed.models[0], { id: "llama-70b", provider: "groq", ownedBy: "groq", contextLength: 8192 });
});

test("grpc-js: Chat without messages is INVALID_ARGUMENT naming the field", async (t) => {
  const { inference } = clients(t, await routerAddress(t));
  const error = await t.throwsAsync<grpc.ServiceError>(
    call(inference, "chat", { params: { model: "llama-70b", messages: [] } }),
  );
  t.is(error?.code, grpc.status.INVALID_ARGUMENT);
  // Connect percent-encodes grpc-message; grpc-js hands it over as it came.
  t.is(decodeURIComponent(error?.details ?? ""), "params.messages must contain at least one message");
});

test("grpc-js: an unknown model on GetModel is NOT_FOUND", async (t) => {
  const { registry } = clients(t, await routerAddress(t));
  const error = await t.throwsAsync<grpc.ServiceError>(call(registry, "getModel", { name: "no-such-model" }));
  t.is(error?.code, grpc.status.NOT_FOUND);
  t.regex(decodeURIComponent(error?.details ?? ""), /no-such-model/);
});
