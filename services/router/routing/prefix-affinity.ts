import { createHash } from "node:crypto";
import { toBinary } from "@bufbuild/protobuf";
import { LRUCache } from "lru-cache";
import { MessageSchema, Role, type ChatParams, type ChatStreamResponse } from "../../../gen/iir/inference/v1/inference_pb.js";
import { serverSpanKey } from "../../common/telemetry/traced-inference-service.js";
import type { ChatAdapter } from "../adapters/adapter.js";
import type { AgentDirectory } from "../agents/agent-directory.js";
import type { RouteCandidate, RouteResolver } from "./resolve-route.js";

const agentProvider = "local";
// A raw prompt's leading characters stand for its conversation (completions have no turns).
const rawPromptPrefixCharacters = 4096;

/** What prefix affinity reads. */
export interface PrefixAffinityDeps {
  readonly inner: RouteResolver;
  /** Each live agent's queue (from beats) and requests in flight from this router. */
  readonly agents: Pick<AgentDirectory, "liveFor">;
  /** How much busier than the least busy agent the previous one may be and still get the turn. */
  readonly maxExtraLoad: number;
  /** Conversations remembered (least recently used go first); 0: off. */
  readonly conversations: number;
}

/**
 * The conversation a request belongs to: a digest of the model and the leading messages (system
 * and developer prompts, then the first user message), which every later turn repeats unchanged.
 * Only the digest is kept, never the text. Undefined: nothing stable to key on.
 */
export function conversationKey(model: string, params: ChatParams): string | undefined {
  const hash = createHash("sha256").update(model).update("\0");
  if (params.prompt !== undefined) return hash.update(params.prompt.slice(0, rawPromptPrefixCharacters)).digest("base64url");
  const firstUser = params.messages.findIndex((message) => message.role === Role.USER);
  if (firstUser < 0) return undefined;
  for (const message of params.messages.slice(0, firstUser + 1)) hash.update(toBinary(MessageSchema, message)).update("\0");
  return hash.digest("base64url");
}

/**
 * Prefix affinity as a resolver decorator: a conversation's next turn goes first to the agent that
 * served its previous one (its llama.cpp sequence still holds the shared prefix's KV cache), unless
 * that agent's queue and in-flight requests exceed the least busy agent's by more than
 * `maxExtraLoad`. An agent is remembered for a conversation once it starts answering.
 */
export function createPrefixAffinity(deps: PrefixAffinityDeps): RouteResolver {
  if (deps.conversations <= 0) return deps.inner;
  const served = new LRUCache<string, string>({ max: deps.conversations });
  const remember = (key: string, agent: string) => served.set(key, agent);

  return {
    resolve(model, requestHeaders, call) {
      const candidates = deps.inner.resolve(model, requestHeaders, call);
      const params = call?.params;
      if (params === undefined || !candidates.some(isAgent)) return candidates;
      const key = conversationKey(model, params);
      if (key === undefined) return candidates;
      const previous = served.get(key);
      const { ordered, outcome } = previous === undefined ? { ordered: candidates, outcome: "new" } : preferPrevious(candidates, previous, deps);
      call?.context?.values.get(serverSpanKey)?.setAttribute("iir.affinity", outcome);
      return ordered.map((candidate) => (isAgent(candidate) ? rememberOnAnswer(candidate, key, remember) : candidate));
    },
  };
}

/** Moves the previous agent to the front of the agents unless it is much busier; says what happened. */
function preferPrevious(candidates: RouteCandidate[], previous: string, deps: PrefixAffinityDeps): { ordered: RouteCandidate[]; outcome: string } {
  const index = candidates.findIndex((candidate) => isAgent(candidate) && candidate.target.backend === previous);
  if (index < 0) return { ordered: candidates, outcome: "gone" };
  const pressures = agentPressures(candidates, deps.agents);
  const mine = pressures.get(previous) ?? 0;
  const least = Math.min(...pressures.values());
  if (mine - least > deps.maxExtraLoad) return { ordered: candidates, outcome: "busy" };
  const firstAgent = candidates.findIndex(isAgent);
  if (index === firstAgent) return { ordered: candidates, outcome: "hit" };
  const ordered = [...candidates];
  const [chosen] = ordered.splice(index, 1);
  ordered.splice(firstAgent, 0, chosen!);
  return { ordered, outcome: "hit" };
}

/** Queue length from the latest beat plus requests in flight, per agent among the candidates. */
function agentPressures(candidates: readonly RouteCandidate[], agents: PrefixAffinityDeps["agents"]): Map<string, number> {
  const pressures = new Map<string, number>();
  for (const model of new Set(candidates.filter(isAgent).map((candidate) => candidate.target.upstreamModel))) {
    for (const agent of agents.liveFor(model)) pressures.set(agent.id, (agent.load?.queueLength ?? 0) + agent.inFlight);
  }
  for (const candidate of candidates) if (isAgent(candidate) && !pressures.has(candidate.target.backend)) pressures.set(candidate.target.backend, 0);
  return pressures;
}

function isAgent(candidate: RouteCandidate): boolean {
  return candidate.target.provider === agentProvider;
}

/** The candidate with an adapter that remembers the agent for the conversation once it answers (a whole answer, or a stream's first part). */
function rememberOnAnswer(candidate: RouteCandidate, key: string, remember: (key: string, agent: string) => void): RouteCandidate {
  const { adapter, target } = candidate;
  const agent = target.backend;
  const remembering: ChatAdapter = {
    async chat(params, chatTarget, signal) {
      const response = await adapter.chat(params, chatTarget, signal);
      remember(key, agent);
      return response;
    },
    async *chatStream(params, chatTarget, signal) {
      let first = true;
      for await (const part of adapter.chatStream(params, chatTarget, signal) as AsyncIterable<ChatStreamResponse>) {
        if (first) remember(key, agent);
        first = false;
        yield part;
      }
    },
  };
  if (adapter.embed !== undefined) remembering.embed = adapter.embed.bind(adapter);
  if (adapter.countTokens !== undefined) remembering.countTokens = adapter.countTokens.bind(adapter);
  if (adapter.listModels !== undefined) remembering.listModels = adapter.listModels.bind(adapter);
  return { ...candidate, adapter: remembering };
}
