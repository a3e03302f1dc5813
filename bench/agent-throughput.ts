import { create } from "@bufbuild/protobuf";
import { ChatParamsSchema, Role } from "../gen/iir/inference/v1/inference_pb.js";
import { defaultThreadCount } from "../services/common/config.js";
import { loadLlamaEngine } from "../services/agent/engine/llama-engine.js";
import { ensureTinyModel } from "../services/agent/model-file/tiny-model.js";
import { startIirProcess } from "./iir-process.js";

/** Tokens per second of one scenario: one stream, or several at once (aggregate). */
export interface ThroughputResult {
  readonly scenario: string;
  readonly streams: number;
  readonly inProcessTokensPerSecond: number;
  readonly facadeTokensPerSecond: number;
}

const prompt = "Tell me a long story about a gateway.";

/**
 * The agent on the built-in tiny model: decoding speed measured directly on the engine in this
 * process, and end to end through `iir all` (facade → router → agent) in its own process.
 */
export async function measureAgentThroughput(options: { tokens: number; runs: number; modelPath: string }): Promise<ThroughputResult[]> {
  const modelPath = await ensureTinyModel(options.modelPath);
  const threads = defaultThreadCount();
  const direct = new Map<number, number>();
  const engine = await loadLlamaEngine({ modelPath, threads, gpu: "auto", parallel: 4, maxQueue: 64, contextSize: 0 });
  try {
    for (const streams of [1, 4]) {
      direct.set(streams, await median(options.runs, () => timeStreams(streams, options.tokens, async () => {
        const params = create(ChatParamsSchema, { model: "bench", messages: [{ role: Role.USER, content: { case: "text", value: prompt } }], maxTokens: options.tokens, temperature: 0 });
        let count = 0;
        for await (const event of engine.generate(params, new AbortController().signal)) if (event.type === "finish") count = event.completionTokens;
        return count;
      })));
    }
  } finally {
    await engine.close();
  }
  const iir = await startIirProcess({
    // No response cache: every request at temperature 0 is the same, and hits would measure the cache, not the agent.
    env: { IIR_TINY_MODEL_PATH: modelPath, IIR_AGENT_THREADS: String(threads), CACHE_TTL: "0" },
  });
  const facade = new Map<number, number>();
  try {
    for (const streams of [1, 4]) {
      facade.set(streams, await median(options.runs, () => timeStreams(streams, options.tokens, () => streamThroughFacade(iir.url, options.tokens))));
    }
  } finally {
    await iir.stop();
  }
  return [1, 4].map((streams) => ({
    scenario: streams === 1 ? "agent: one stream" : `agent: ${streams} concurrent streams`,
    streams,
    inProcessTokensPerSecond: direct.get(streams)!,
    facadeTokensPerSecond: facade.get(streams)!,
  }));
}

/** Aggregate tokens/s of `streams` concurrent generations. */
async function timeStreams(streams: number, tokens: number, generate: () => Promise<number>): Promise<number> {
  await generate(); // warm-up, not counted
  const started = performance.now();
  const counts = await Promise.all(Array.from({ length: streams }, generate));
  const seconds = (performance.now() - started) / 1000;
  const total = counts.reduce((sum, count) => sum + count, 0);
  if (total !== streams * tokens) throw new Error(`expected ${streams * tokens} tokens, got ${total}`);
  return total / seconds;
}

/** Streams one completion through the facade; returns the completion tokens it reported. */
async function streamThroughFacade(facadeUrl: string, tokens: number): Promise<number> {
  const response = await fetch(`${facadeUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "local/iir-tiny",
      messages: [{ role: "user", content: prompt }],
      max_tokens: tokens,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (!response.ok || response.body === null) throw new Error(`facade answered ${response.status}: ${await response.text()}`);
  let text = "";
  for await (const chunk of response.body.pipeThrough(new TextDecoderStream())) text += chunk;
  const usage = /"completion_tokens":(\d+)/.exec(text.slice(text.lastIndexOf('"usage"')));
  return usage ? Number(usage[1]) : 0;
}

async function median(runs: number, measure: () => Promise<number>): Promise<number> {
  const values: number[] = [];
  for (let run = 0; run < runs; run++) values.push(await measure());
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)]!;
}
