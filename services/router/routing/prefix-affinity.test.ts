import test from "ava";
import { create } from "@bufbuild/protobuf";
import { AgentLoadSchema } from "../../../gen/iir/heartbeat/v1/heartbeat_pb.js";
import { ChatParamsSchema, ChatResponseSchema, Role, type ChatParams } from "../../../gen/iir/inference/v1/inference_pb.js";
import { AgentSchema } from "../../../gen/iir/registry/v1/registry_pb.js";
import { loadConfig } from "../../common/config.js";
import type { ChatAdapter } from "../adapters/adapter.js";
import { createAgentDirectory } from "../agents/agent-directory.js";
import { conversationKey, createPrefixAffinity } from "./prefix-affinity.js";
import { createRouteResolver } from "./resolve-route.js";

// An agent adapter that answers at once, naming the agent it was sent to.
const answering: ChatAdapter = {
  chat: async (_params, target) => create(ChatResponseSchema, { backend: target.backend }),
  async *chatStream() {},
};

function setUp(maxExtraLoad = 2) {
  const agents = createAgentDirectory({ staleAfterMs: 60_000, now: () => 1000 });
  for (const id of ["agent-a", "agent-b"]) agents.upsert(create(AgentSchema, { id, address: `http://127.0.0.1:1/${id}`, models: ["tiny"], lastSeenAt: 1000n }));
  const config = loadConfig({});
  const inner = createRouteResolver({ findModel: () => undefined, providers: config.providers, adapters: new Map([["local", answering]]), secret: config.secret, agents });
  return { agents, resolver: createPrefixAffinity({ inner, agents, maxExtraLoad, conversations: 100 }) };
}

const turn = (system: string, ...texts: string[]): ChatParams =>
  create(ChatParamsSchema, {
    model: "tiny",
    messages: [
      { role: Role.SYSTEM, content: { case: "text", value: system } },
      ...texts.map((value, index) => ({ role: index % 2 === 0 ? Role.USER : Role.ASSISTANT, content: { case: "text" as const, value } })),
    ],
  });

async function serve(resolver: ReturnType<typeof setUp>["resolver"], params: ChatParams): Promise<string> {
  const [first] = resolver.resolve("tiny", undefined, { params });
  return (await first!.adapter.chat(params, first!.target, new AbortController().signal)).backend;
}

test("the key is the leading messages' digest: later turns share it, other conversations do not, and no text is kept", (t) => {
  const first = conversationKey("tiny", turn("You are terse.", "What is 2+2?"))!;
  t.is(conversationKey("tiny", turn("You are terse.", "What is 2+2?", "4", "And 3+3?")), first);
  t.not(conversationKey("tiny", turn("You are terse.", "What is 5+5?")), first);
  t.not(conversationKey("other", turn("You are terse.", "What is 2+2?")), first);
  t.false(first.includes("terse"));
  t.is(conversationKey("tiny", create(ChatParamsSchema, { messages: [{ role: Role.SYSTEM, content: { case: "text", value: "only a system prompt" } }] })), undefined);
});

test("a conversation's later turns go first to the agent that served its first, though the other is less busy", async (t) => {
  const { agents, resolver } = setUp();
  const served = await serve(resolver, turn("sys", "first question"));
  // The other agent is now the least busy one, by one request: within the allowed extra load.
  agents.beat(served, create(AgentLoadSchema, { queueLength: 1 }), 1000);
  t.is(await serve(resolver, turn("sys", "first question", "answer", "second question")), served);
  t.is(await serve(resolver, turn("sys", "first question", "answer", "second question", "answer", "third")), served);
});

test("an agent much busier than the least busy one is bypassed, and the conversation moves with it", async (t) => {
  const { agents, resolver } = setUp(2);
  const served = await serve(resolver, turn("sys", "a question"));
  agents.beat(served, create(AgentLoadSchema, { queueLength: 3 }), 1000);
  const moved = await serve(resolver, turn("sys", "a question", "answer", "next"));
  t.not(moved, served);
  agents.beat(served, create(AgentLoadSchema, { queueLength: 0 }), 1000);
  t.is(await serve(resolver, turn("sys", "a question", "answer", "next", "answer", "again")), moved);
});

test("off with no conversations remembered: the inner resolver's order stands", (t) => {
  const agents = createAgentDirectory({ staleAfterMs: 60_000 });
  const inner = { resolve: () => [] };
  t.is(createPrefixAffinity({ inner, agents, maxExtraLoad: 2, conversations: 0 }), inner);
});
