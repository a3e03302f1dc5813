import test from "ava";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RegistryService } from "../gen/iir/registry/v1/registry_pb.js";
import { startMesh } from "./support/mesh.js";

// With IIR_ADMIN_TOKEN set on the router, only callers presenting it may change models over gRPC.

const model = { name: "guarded", provider: "openai", upstreamModel: "gpt-4o-mini", enabled: true };

test("UpsertModel and DeleteModel need the admin token: Unauthenticated without, PermissionDenied when wrong", async (t) => {
  const mesh = await startMesh({ IIR_ADMIN_TOKEN: "admin-s3cret" });
  t.teardown(() => mesh.close());
  const registry = createClient(RegistryService, createGrpcTransport({ baseUrl: mesh.routerUrl }));
  const wrong = { headers: { authorization: "Bearer admin-guess" } };
  const right = { headers: { authorization: "Bearer admin-s3cret" } };

  const missing = ConnectError.from(await t.throwsAsync(registry.upsertModel({ model })));
  t.is(missing.code, Code.Unauthenticated);
  t.regex(missing.rawMessage, /IIR_ADMIN_TOKEN/);
  t.is(ConnectError.from(await t.throwsAsync(registry.upsertModel({ model }, wrong))).code, Code.PermissionDenied);
  t.is(ConnectError.from(await t.throwsAsync(registry.upsertModel({ model }, { headers: { authorization: "admin-s3cret" } }))).code, Code.Unauthenticated, "the Bearer scheme is required");
  t.deepEqual((await registry.listModels({})).models, [], "nothing was written; reads stay open");

  const stored = await registry.upsertModel({ model }, right);
  t.is(stored.model?.name, "guarded");
  t.is((await registry.getModel({ name: "guarded" })).model?.provider, "openai");

  t.is(ConnectError.from(await t.throwsAsync(registry.deleteModel({ name: "guarded" }))).code, Code.Unauthenticated);
  t.is(ConnectError.from(await t.throwsAsync(registry.deleteModel({ name: "guarded" }, wrong))).code, Code.PermissionDenied);
  t.is((await registry.listModels({})).models.length, 1);
  await registry.deleteModel({ name: "guarded" }, right);
  t.deepEqual((await registry.listModels({})).models, []);
});

test("the admin token does not stand in for the agent token, nor the other way round", async (t) => {
  const mesh = await startMesh({ IIR_ADMIN_TOKEN: "admin-s3cret", IIR_AGENT_TOKEN: "agent-s3cret" });
  t.teardown(() => mesh.close());
  const registry = createClient(RegistryService, createGrpcTransport({ baseUrl: mesh.routerUrl }));
  const registration = { id: "a1", address: "http://127.0.0.1:1", models: ["local/x"] };
  const adminAsAgent = await t.throwsAsync(registry.registerAgent(registration, { headers: { authorization: "Bearer admin-s3cret" } }));
  t.is(ConnectError.from(adminAsAgent).code, Code.PermissionDenied);
  const agentAsAdmin = await t.throwsAsync(registry.upsertModel({ model }, { headers: { authorization: "Bearer agent-s3cret" } }));
  t.is(ConnectError.from(agentAsAdmin).code, Code.PermissionDenied);
  await registry.registerAgent(registration, { headers: { authorization: "Bearer agent-s3cret" } });
  t.deepEqual((await registry.listAgents({})).agents.map((agent) => agent.id), ["a1"]);
});

test("without IIR_ADMIN_TOKEN model mutations need no token", async (t) => {
  const mesh = await startMesh();
  t.teardown(() => mesh.close());
  const registry = createClient(RegistryService, createGrpcTransport({ baseUrl: mesh.routerUrl }));
  await registry.upsertModel({ model });
  await registry.deleteModel({ name: "guarded" });
  t.deepEqual((await registry.listModels({})).models, []);
});
