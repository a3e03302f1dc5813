import test, { type ExecutionContext } from "ava";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { HeartbeatService } from "../gen/iir/heartbeat/v1/heartbeat_pb.js";
import type { RunningAgent } from "../services/agent/server.js";
import { startTestAgent } from "./support/agent-fixtures.js";
import { startMesh, type TestMesh } from "./support/mesh.js";

// Prefix affinity with two real agents on the tiny model: a conversation's turns stay on the agent
// holding its prefix, unless that agent is much busier than the other.

// Beats far apart, so the load a test reports for an agent stands until the test is over.
const slowBeats = { HEARTBEAT_INTERVAL: "60", AGENT_STALE_AFTER: "600" };

interface Setup {
  readonly mesh: TestMesh;
  readonly agents: readonly RunningAgent[];
  /** Reports an agent's queue to the router as the agent's own beat would. */
  report(agent: string, queueLength: number): Promise<void>;
}

async function setUp(t: ExecutionContext): Promise<Setup> {
  const mesh = await startMesh({ ...slowBeats, IIR_AFFINITY_MAX_EXTRA_LOAD: "2" });
  const agents: RunningAgent[] = [];
  t.teardown(async () => {
    for (const agent of agents) await agent.close(1000);
    await mesh.close();
  });
  for (const id of ["agent-a", "agent-b"]) agents.push(await startTestAgent(mesh.routerUrl, { ...slowBeats, IIR_AGENT_ID: id, IIR_AGENT_CONTEXT_SIZE: "2048" }));
  const heartbeat = createClient(HeartbeatService, createGrpcTransport({ baseUrl: mesh.routerUrl }));
  return {
    mesh,
    agents,
    report: async (agent, queueLength) => {
      await heartbeat.beat({ agentId: agent, load: { queueLength } });
    },
  };
}

const system = { role: "system", content: "You answer questions about the IIR gateway in one short sentence." };

/** The messages of turn `n` (from 1) of a conversation that began with `first`. */
function turn(first: string, n: number): { role: string; content: string }[] {
  const messages = [system, { role: "user", content: first }];
  for (let index = 2; index <= n; index++) messages.push({ role: "assistant", content: `answer ${index - 1}` }, { role: "user", content: `follow-up ${index}` });
  return messages;
}

/** Sends one turn through the facade; resolves to the agent that served it. */
async function send(setup: Setup, messages: unknown[], stream = false): Promise<string> {
  const response = await fetch(`${setup.mesh.facadeUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: setup.agents[0]!.modelId, messages, max_tokens: 4, temperature: 0, stream }),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`status ${response.status}: ${text}`);
  return response.headers.get("x-iir-backend") ?? "";
}

test.serial("a conversation's turns stay on the agent that served its first turn, though the other agent is less busy", async (t) => {
  const setup = await setUp(t);
  const first = await send(setup, turn("What does the router do?", 1));
  t.true(["agent-a", "agent-b"].includes(first));
  const other = first === "agent-a" ? "agent-b" : "agent-a";
  // Busier by one queued request: within IIR_AFFINITY_MAX_EXTRA_LOAD, and enough that plain
  // least-busy routing would pick the other agent.
  await setup.report(first, 1);
  t.is(await send(setup, turn("What does the router do?", 2)), first);
  t.is(await send(setup, turn("What does the router do?", 3), true), first);
  // Another conversation is free to go where the load is least.
  t.is(await send(setup, turn("How are keys stored?", 1)), other);
});

test.serial("a much busier affinity agent is bypassed, and the conversation then stays where it moved", async (t) => {
  const setup = await setUp(t);
  const first = await send(setup, turn("Which caches are there?", 1));
  const other = first === "agent-a" ? "agent-b" : "agent-a";
  await setup.report(first, 5);
  t.is(await send(setup, turn("Which caches are there?", 2)), other);
  await setup.report(first, 0);
  t.is(await send(setup, turn("Which caches are there?", 3)), other);
});
