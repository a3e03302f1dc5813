import test, { type ExecutionContext } from "ava";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { BeatAction, HeartbeatService } from "../gen/iir/heartbeat/v1/heartbeat_pb.js";
import { ModelSchema, RegistryService } from "../gen/iir/registry/v1/registry_pb.js";
import { createHeartbeatService } from "../services/router/heartbeat-service.js";
import { createModelCatalog } from "../services/router/registry/model-catalog.js";
import { createRegistryService } from "../services/router/registry-service.js";
import { createMigratedRegistry } from "./registry-fixtures.js";

const staleAfterMs = 15_000;

/** Registry and heartbeat clients over Connect's in-memory transport, with a clock the test moves. */
async function createClients(t: ExecutionContext) {
  const { db } = await createMigratedRegistry(t);
  const catalog = createModelCatalog(db, { refreshMs: 60_000 });
  t.teardown(() => catalog.close());
  await catalog.refresh();
  const clock = { now: 1_000_000 };
  const now = () => clock.now;
  // The checks of tokens and agent names have tests of their own (test/mesh-auth.test.ts).
  const allow = () => undefined;
  const checks = { checkAgentToken: allow, checkAdminToken: allow, checkReader: allow, refuseAgentModel: allow };
  const transport = createRouterTransport((router) => {
    router.service(RegistryService, createRegistryService({ db, catalog, heartbeatIntervalSeconds: 5, staleAfterMs, now, ...checks }));
    router.service(HeartbeatService, createHeartbeatService({ db, heartbeatIntervalSeconds: 5, now, checkAgentToken: allow }));
  });
  return { registry: createClient(RegistryService, transport), heartbeat: createClient(HeartbeatService, transport), catalog, clock };
}

async function codeOf(promise: Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await promise;
  } catch (error) {
    const connectError = ConnectError.from(error);
    return { code: connectError.code, message: connectError.rawMessage };
  }
  throw new Error("expected the call to fail");
}

test("models round-trip through the RegistryService and reach the catalog at once", async (t) => {
  const { registry, catalog, clock } = await createClients(t);
  const model = create(ModelSchema, { name: "llama-70b", provider: "groq", baseUrl: "https://api.groq.com/openai/v1", enabled: true });
  const { model: stored } = await registry.upsertModel({ model });
  t.is(stored?.createdAt, BigInt(clock.now));
  t.is(catalog.get("llama-70b")?.provider, "groq", "the catalog is refreshed after an upsert");

  const { model: fetched } = await registry.getModel({ name: "llama-70b" });
  t.is(fetched?.baseUrl, "https://api.groq.com/openai/v1");
  t.deepEqual((await registry.listModels({})).models.map((entry) => entry.name), ["llama-70b"]);

  await registry.deleteModel({ name: "llama-70b" });
  t.is(catalog.get("llama-70b"), undefined, "the catalog is refreshed after a delete");
  t.deepEqual((await registry.listModels({})).models, []);
});

test("unknown models are NotFound and say which name", async (t) => {
  const { registry } = await createClients(t);
  const missing = await codeOf(registry.getModel({ name: "no-such-model" }));
  t.is(missing.code, Code.NotFound);
  t.regex(missing.message, /no-such-model/);
  t.is((await codeOf(registry.deleteModel({ name: "no-such-model" }))).code, Code.NotFound);
  t.is((await codeOf(registry.deregisterAgent({ id: "no-such-agent" }))).code, Code.NotFound);
});

test("bad input is InvalidArgument naming the field", async (t) => {
  const { registry, heartbeat } = await createClients(t);
  t.is((await codeOf(registry.getModel({ name: "" }))).code, Code.InvalidArgument);
  t.is((await codeOf(registry.deleteModel({ name: " " }))).code, Code.InvalidArgument);
  t.is((await codeOf(registry.upsertModel({}))).code, Code.InvalidArgument);
  const badUrl = await codeOf(registry.upsertModel({ model: { name: "x", provider: "openai", baseUrl: "not a url" } }));
  t.is(badUrl.code, Code.InvalidArgument);
  t.regex(badUrl.message, /base_url/);
  const badAgent = await codeOf(registry.registerAgent({ id: "a", address: "10.0.0.5:50061" }));
  t.is(badAgent.code, Code.InvalidArgument);
  t.regex(badAgent.message, /address/);
  t.is((await codeOf(registry.registerAgent({ id: "", address: "http://127.0.0.1:1" }))).code, Code.InvalidArgument);
  t.is((await codeOf(heartbeat.beat({ agentId: "" }))).code, Code.InvalidArgument);
});

test("heartbeats: unknown agents are told to register, known ones OK, silence makes them stale", async (t) => {
  const { registry, heartbeat, clock } = await createClients(t);
  const unknown = await heartbeat.beat({ agentId: "agent-1", load: { queueLength: 1 } });
  t.is(unknown.action, BeatAction.REGISTER);
  t.is(unknown.intervalSeconds, 5);

  const registered = await registry.registerAgent({ id: "agent-1", address: "http://127.0.0.1:50061", models: ["tiny"] });
  t.is(registered.heartbeatIntervalSeconds, 5);
  clock.now += 4_000;
  const known = await heartbeat.beat({ agentId: "agent-1", load: { queueLength: 7, activeSequences: 2 } });
  t.is(known.action, BeatAction.OK);

  const [fresh] = (await registry.listAgents({})).agents;
  t.is(fresh?.lastSeenAt, BigInt(clock.now));
  t.is(fresh?.load?.queueLength, 7);
  t.false(fresh?.stale);

  clock.now += staleAfterMs;
  t.false((await registry.listAgents({})).agents[0]?.stale, "exactly staleAfterMs of silence is not yet stale");
  clock.now += 1;
  t.true((await registry.listAgents({})).agents[0]?.stale);

  await heartbeat.beat({ agentId: "agent-1" });
  t.false((await registry.listAgents({})).agents[0]?.stale, "a beat makes it fresh again");
  await registry.deregisterAgent({ id: "agent-1" });
  t.is((await heartbeat.beat({ agentId: "agent-1" })).action, BeatAction.REGISTER);
});
