import test from "ava";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getLlama, LlamaCompletion, LlamaLogLevel, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaModel, type Token } from "node-llama-cpp";
import { ensureTinyModel } from "../model-file/tiny-model.js";
import { createSequencePool } from "./sequence-pool.js";

// The real tiny model: what is checked is which sequence holds which evaluated tokens.

let directory = "";
let llama: Llama;
let model: LlamaModel;
let context: LlamaContext;

test.before(async () => {
  directory = await mkdtemp(join(tmpdir(), "iir-sequence-pool-"));
  llama = await getLlama({ gpu: false, build: "never", maxThreads: 1, logLevel: LlamaLogLevel.error });
  model = await llama.loadModel({ modelPath: await ensureTinyModel(join(directory, "iir-tiny.gguf")) });
  context = await model.createContext({ sequences: 2, contextSize: 512, threads: 1 });
});

test.after.always(async () => {
  await context?.dispose();
  await model?.dispose();
  await llama?.dispose();
  await rm(directory, { recursive: true, force: true });
});

async function complete(sequence: LlamaContextSequence, prompt: string | Token[]): Promise<void> {
  const completion = new LlamaCompletion({ contextSequence: sequence });
  await completion.generateCompletion(typeof prompt === "string" ? model.tokenize(prompt) : prompt, { maxTokens: 4, temperature: 0 });
  completion.dispose();
}

test.serial("a later prompt sharing a prefix gets the sequence that evaluated it and skips those tokens; another prompt gets a fresh one", async (t) => {
  const pool = createSequencePool(context);
  const shared = "The same long system prompt, repeated on every turn of the conversation. ".repeat(4);
  const first = pool.take(model.tokenize(`${shared}first question`));
  t.is(first.reusedTokens, 0);
  await complete(first.sequence, `${shared}first question`);
  await first.release(true);

  const other = pool.take(model.tokenize(`${shared.slice(0, 20)} an unrelated conversation`));
  t.not(other.sequence, first.sequence, "a fresh sequence is taken rather than overwriting a cached conversation for a short shared start");
  t.is(other.reusedTokens, 0);

  const nextTurn = model.tokenize(`${shared}first question and the answer, then a second question`);
  const second = pool.take(nextTurn);
  t.is(second.sequence, first.sequence);
  t.true(second.reusedTokens >= model.tokenize(shared).length, `reused ${second.reusedTokens} tokens`);
  await other.release(false);
  t.true(other.sequence.disposed, "a sequence released as unsound is disposed");
  await second.release(false);
});

test.serial("a prompt that starts with the beginning-of-text token itself (as chat templates render) still finds its prefix", async (t) => {
  const bos = model.tokens.bos!;
  const pool = createSequencePool(context);
  const shared = "A chat template rendered this system prompt and a long first user message. ".repeat(3);
  const first = pool.take([bos, ...model.tokenize(shared)]);
  await complete(first.sequence, [bos, ...model.tokenize(shared)]);
  await first.release(true);
  const next = pool.take([bos, ...model.tokenize(`${shared} and the next turn`)]);
  t.is(next.sequence, first.sequence);
  t.true(next.reusedTokens >= model.tokenize(shared).length, `reused ${next.reusedTokens} tokens`);
  await next.release(false);
});

test.serial("with every sequence in use but one free, the free one is taken whatever it holds", async (t) => {
  const pool = createSequencePool(context);
  const a = pool.take(model.tokenize("alpha"));
  const b = pool.take(model.tokenize("beta"));
  await complete(a.sequence, "alpha");
  await a.release(true);
  const c = pool.take(model.tokenize("gamma"));
  t.is(c.sequence, a.sequence);
  await c.release(false);
  await b.release(false);
});
