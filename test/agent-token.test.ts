import test from "ava";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { BeatAction, HeartbeatService } from "../gen/iir/heartbeat/v1/heartbeat_pb.js";
import { RegistryService } from "../gen/iir/registry/v1/registry_pb.js";
import { startTestAgent } from "./support/agent-fixtures.js";
import { startMesh } from "./support/mesh.js";

// With IIR_AGENT_TOKEN set on the router, only agents that present it may join or beat.

test("registration and beats need the router's agent token; an agent configured with it joins", async (t) => {
  const mesh = await startMesh({ IIR_AGENT_TOKEN: "s3cret-token" });
  t.teardown(() => mesh.close());
  const transport = createGrpcTransport({ baseUrl: mesh.routerUrl });
  const registry = createClient(RegistryService, transport);
  const heartbeat = createClient(HeartbeatService, transport);
  const registration = { id: "intruder", address: "http://127.0.0.1:1", models: ["local/evil"] };

  const missing = await t.throwsAsync(registry.registerAgent(registration));
  t.is(ConnectError.from(missing).code, Code.Unauthenticated);
  const wrong = await t.throwsAsync(registry.registerAgent(registration, { headers: { authorization: "Bearer guess" } }));
  t.is(ConnectError.from(wrong).code, Code.PermissionDenied);
  const beat = await t.throwsAsync(heartbeat.beat({ agentId: "intruder" }));
  t.is(ConnectError.from(beat).code, Code.Unauthenticated);
  const leave = await t.throwsAsync(registry.deregisterAgent({ id: "anyone" }));
  t.is(ConnectError.from(leave).code, Code.Unauthenticated);
  t.deepEqual((await registry.listAgents({})).agents, [], "nothing was registered");

  const agent = await startTestAgent(mesh.routerUrl, { IIR_AGENT_TOKEN: "s3cret-token" });
  t.teardown(() => agent.close(1000));
  const ids = (await registry.listAgents({})).agents.map((entry) => entry.id);
  t.deepEqual(ids, [agent.id]);
  const answer = await heartbeat.beat({ agentId: agent.id }, { headers: { authorization: "Bearer s3cret-token" } });
  t.is(answer.action, BeatAction.OK);
});
