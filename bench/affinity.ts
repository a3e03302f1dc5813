import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { InferenceService, Role } from "../gen/iir/inference/v1/inference_pb.js";
import { loadConfig } from "../services/common/config.js";
import { createLogger } from "../services/common/logger.js";
import { startAgent, type RunningAgent } from "../services/agent/server.js";
import { ensureTinyModel } from "../services/agent/model-file/tiny-model.js";
import { startRouter } from "../services/router/server.js";

// Time to first token of a conversation's later turns, with prefix affinity on and off, on two
// real agents serving the tiny model. Each conversation opens with a long document of its own, so
// a turn that lands on the other agent must evaluate the whole document again, while the agent
// that served the previous turn still holds it in a sequence's KV cache (sequence-pool.ts).
//
//   node --import tsx bench/affinity.ts [conversations=4] [turns=4] [documentChars=3000]

const [conversations = 4, turns = 4, documentChars = 3000] = process.argv.slice(2).map(Number);
const threads = String(Math.max(1, Math.floor(os.availableParallelism() / 2)));

interface ModeResult {
  readonly mode: string;
  readonly firstTurnMs: number[];
  readonly laterTurnMs: number[];
  readonly sameAgent: number;
}

async function runMode(affinity: boolean, modelPath: string): Promise<ModeResult> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "iir-affinity-bench-"));
  const env = {
    IIR_HOST: "127.0.0.1",
    IIR_ROUTER_PORT: "0",
    IIR_AGENT_PORT: "0",
    SQLITE_DB_PATH: path.join(directory, "iir.db"),
    LOG_LEVEL: "silent",
    CACHE_TTL: "0",
    IIR_PROVIDER_MODELS_REFRESH_MS: "0",
    HEARTBEAT_INTERVAL: "1",
    IIR_AGENT_MODEL: modelPath,
    IIR_AGENT_THREADS: threads,
    IIR_AGENT_GPU: "false",
    IIR_AGENT_PARALLEL: "4",
    IIR_AGENT_CONTEXT_SIZE: "4096",
    IIR_AFFINITY_CONVERSATIONS: affinity ? "10000" : "0",
  };
  const config = loadConfig(env);
  const logger = createLogger({ level: "silent", name: "bench" });
  const router = await startRouter(config, logger);
  const routerUrl = `http://127.0.0.1:${router.port}`;
  const agents: RunningAgent[] = [];
  try {
    for (const id of ["bench-agent-a", "bench-agent-b"]) {
      const agentConfig = loadConfig({ ...env, IIR_AGENT_ID: id });
      const agent = await startAgent(agentConfig, logger, routerUrl);
      await agent.membership.registered;
      agents.push(agent);
    }
    const client = createClient(InferenceService, createGrpcTransport({ baseUrl: routerUrl }));
    const model = agents[0]!.modelId;
    const firstTurnMs: number[] = [];
    const laterTurnMs: number[] = [];
    const served = new Map<number, string>();
    let sameAgent = 0;
    // Each turn, every conversation asks at once, in a shuffled order (the same for both modes): as
    // under real traffic, least-busy routing alone spreads a conversation's turns over both agents,
    // while affinity keeps each on the agent holding its document. The last column says how often a
    // turn landed on the previous turn's agent.
    const random = seededRandom(7);
    for (let turn = 1; turn <= turns; turn++) {
      const order = shuffled([...Array(conversations).keys()], random);
      await Promise.all(
        order.map(async (conversation, position) => {
          // Launched in this order, a few milliseconds apart, so each sees the load of the earlier ones.
          await new Promise((resolve) => setTimeout(resolve, position * 5));
          const messages = [
            { role: Role.SYSTEM, content: { case: "text" as const, value: "Answer questions about the document." } },
            { role: Role.USER, content: { case: "text" as const, value: documentFor(conversation) } },
          ];
          for (let earlier = 2; earlier <= turn; earlier++) {
            messages.push({ role: Role.ASSISTANT, content: { case: "text", value: `answer ${earlier - 1}` } }, { role: Role.USER, content: { case: "text", value: `question ${earlier}` } });
          }
          const started = performance.now();
          let firstMs: number | undefined;
          let backend = "";
          for await (const part of client.chatStream({ params: { model, messages, maxTokens: 8, temperature: 0 } })) {
            if (part.backend) backend = part.backend;
            if (firstMs === undefined && part.event.case === "text") firstMs = performance.now() - started;
          }
          (turn === 1 ? firstTurnMs : laterTurnMs).push(firstMs ?? performance.now() - started);
          if (turn > 1 && served.get(conversation) === backend) sameAgent += 1;
          served.set(conversation, backend);
        }),
      );
    }
    return { mode: affinity ? "affinity on" : "affinity off", firstTurnMs, laterTurnMs, sameAgent };
  } finally {
    for (const agent of agents) await agent.close(1000);
    await router.close(1000);
    fs.rmSync(directory, { recursive: true, force: true });
  }
}

/** A small deterministic generator (mulberry32), so both modes see the same orders. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: T[], random: () => number): T[] {
  for (let index = items.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [items[index], items[other]] = [items[other]!, items[index]!];
  }
  return items;
}

/** A document of its own per conversation (one token per byte on the tiny model's byte vocabulary). */
function documentFor(conversation: number): string {
  const line = `Conversation ${conversation}: the gateway routes, caches and meters requests across providers. `;
  return line.repeat(Math.ceil(documentChars / line.length)).slice(0, documentChars);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

const modelPath = await ensureTinyModel(path.join(os.tmpdir(), "iir-bench-models", "iir-tiny.gguf"));
const results: ModeResult[] = [];
// Off first, then on, then off again: the machine's warm-up does not favour one mode.
for (const affinity of [false, true, false, true, false, true]) results.push(await runMode(affinity, modelPath));
console.log(`${conversations} conversations × ${turns} turns, ${documentChars}-character document each, 2 agents, ${threads} threads each`);
for (const result of results) {
  console.log(
    `${result.mode.padEnd(13)} first turn TTFT median ${median(result.firstTurnMs).toFixed(1)} ms; later turns median ${median(result.laterTurnMs).toFixed(1)} ms, ` +
      `mean ${(result.laterTurnMs.reduce((sum, value) => sum + value, 0) / result.laterTurnMs.length).toFixed(1)} ms; later turns on the previous turn's agent ${result.sameAgent}/${result.laterTurnMs.length}`,
  );
}
