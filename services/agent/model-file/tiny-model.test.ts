import test from "ava";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, stat } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import {
  getLlama,
  JinjaTemplateChatWrapper,
  LlamaChatSession,
  LlamaCompletion,
  LlamaLogLevel,
  type Llama,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import { ensureTinyModel, TINY_MODEL_NAME, writeTinyModel } from "./tiny-model.js";
import { TINY_CHAT_TEMPLATE, TINY_EOS_ID, TINY_FIRST_BYTE_ID, TINY_SPACE_ID } from "./tiny-vocabulary.js";

const threads = Math.max(1, availableParallelism() - 1);
let directory = "";
let llama: Llama;
let model: LlamaModel;

test.before(async () => {
  directory = await mkdtemp(join(tmpdir(), "iir-tiny-model-"));
  llama = await getLlama({ gpu: false, build: "never", maxThreads: threads, logLevel: LlamaLogLevel.error });
  model = await llama.loadModel({ modelPath: await writeTinyModel(join(directory, "iir-tiny.gguf")) });
});

test.after.always(async () => {
  await model?.dispose();
  await llama?.dispose();
  await rm(directory, { recursive: true, force: true });
});

const sha256 = async (path: string) => createHash("sha256").update(await readFile(path)).digest("hex");

/** Greedy completion on a fresh context, so no KV-cache state carries over between runs. */
async function generateGreedy(prompt: string, maxTokens: number): Promise<{ tokens: Token[]; text: string; stopReason: string }> {
  const context = await model.createContext({ sequences: 1, threads });
  try {
    const tokens: Token[] = [];
    const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
    const result = await completion.generateCompletionWithMeta(prompt, {
      maxTokens,
      temperature: 0,
      onToken: (chunk) => tokens.push(...chunk),
    });
    return { tokens, text: result.response, stopReason: result.metadata.stopReason };
  } finally {
    await context.dispose();
  }
}

test("the same seed writes a byte-identical file, another seed a different one", async (t) => {
  const first = await writeTinyModel(join(directory, "a.gguf"), { seed: 7 });
  const second = await writeTinyModel(join(directory, "b.gguf"), { seed: 7 });
  const other = await writeTinyModel(join(directory, "c.gguf"), { seed: 8 });
  t.is(await sha256(first), await sha256(second));
  t.not(await sha256(first), await sha256(other));
});

test("ensureTinyModel writes once, keeps an existing file and survives a race", async (t) => {
  const path = join(directory, "race", "models", "iir-tiny.gguf");
  const results = await Promise.all([1, 2, 3, 4].map(() => ensureTinyModel(path)));
  t.deepEqual(results, [path, path, path, path]);
  t.is(await sha256(path), await sha256(join(directory, "iir-tiny.gguf")));
  t.deepEqual(await readdir(join(directory, "race", "models")), ["iir-tiny.gguf"], "no temporary files left behind");
  const before = await stat(path);
  await ensureTinyModel(path);
  t.is((await stat(path)).mtimeMs, before.mtimeMs);
});

test.serial("node-llama-cpp loads the model and reads its metadata", (t) => {
  t.is(model.fileInfo.metadata.general.name, TINY_MODEL_NAME);
  t.is(model.trainContextSize, 4096);
  t.is(Number(model.tokens.bos), 1);
  t.is(Number(model.tokens.eos), TINY_EOS_ID);
});

test.serial("ASCII text round-trips through byte tokens", (t) => {
  const text = "Hello, world! {\"a\": [1, 2]}\n\tbye~";
  const tokens = model.tokenize(text);
  const expected = [...text].map((character) =>
    character === " " ? TINY_SPACE_ID : TINY_FIRST_BYTE_ID + character.charCodeAt(0));
  t.deepEqual(tokens, expected);
  t.is(model.detokenize(tokens), text);
});

test.serial("greedy generation is deterministic and prints ASCII", async (t) => {
  const first = await generateGreedy("Once upon a time", 16);
  const second = await generateGreedy("Once upon a time", 16);
  t.is(first.tokens.length, 16);
  t.is(first.stopReason, "maxTokens");
  t.deepEqual(first.tokens, second.tokens);
  t.regex(first.text, /^[\x20-\x7e\n]+$/);
});

test.serial("the chat template is picked up and a chat turn runs", async (t) => {
  t.is(model.fileInfo.metadata.tokenizer.chat_template, TINY_CHAT_TEMPLATE);
  const context = await model.createContext({ sequences: 1, threads });
  try {
    const session = new LlamaChatSession({ contextSequence: context.getSequence() });
    // node-llama-cpp recognises a Jinja template equivalent to a built-in format and uses the built-in one.
    t.is(session.chatWrapper.wrapperName, "ChatML");
    const history = [{ type: "user" as const, text: "Hi" }, { type: "model" as const, response: [] }];
    const rendered = session.chatWrapper.generateContextState({ chatHistory: history }).contextText.toString();
    const jinja = new JinjaTemplateChatWrapper({ template: TINY_CHAT_TEMPLATE, tokenizer: model.tokenizer });
    t.is(jinja.generateContextState({ chatHistory: history }).contextText.toString(), rendered);
    t.true(rendered.includes("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
    const answer = await session.promptWithMeta("Hi", { maxTokens: 8, temperature: 0 });
    t.is(answer.stopReason, "maxTokens");
    t.true(answer.responseText.length > 0);
  } finally {
    await context.dispose();
  }
});

test.serial("an aborted generation stops with stopReason abort", async (t) => {
  const context = await model.createContext({ sequences: 1, threads });
  try {
    const controller = new AbortController();
    let count = 0;
    const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
    const result = await completion.generateCompletionWithMeta("abc", {
      maxTokens: 1000,
      signal: controller.signal,
      stopOnAbortSignal: true,
      onToken: () => {
        if (++count === 5) controller.abort();
      },
    });
    t.is(result.metadata.stopReason, "abort");
    t.true(count < 1000);
  } finally {
    await context.dispose();
  }
});
