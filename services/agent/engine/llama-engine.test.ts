import test, { type ExecutionContext } from "ava";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChatParamsSchema, FinishReason, Role, type ChatParams } from "../../../gen/iir/inference/v1/inference_pb.js";
import { findUpstreamError } from "../../common/errors.js";
import { ModelFileError } from "../model-file/model-file-error.js";
import { ensureTinyModel, TINY_MODEL_NAME } from "../model-file/tiny-model.js";
import { loadLlamaEngine, type GenerationEvent, type LlamaEngine } from "./llama-engine.js";

// Every test here shares one engine (2 sequences, 1 queued request, 512 tokens each) and reads its
// load counters, so they run one after another.

const contextSize = 512;
let directory = "";
let engine: LlamaEngine;

test.before(async () => {
  directory = await mkdtemp(join(tmpdir(), "iir-llama-engine-"));
  const modelPath = await ensureTinyModel(join(directory, "iir-tiny.gguf"));
  engine = await loadLlamaEngine({ modelPath, threads: 1, gpu: false, parallel: 2, maxQueue: 1, contextSize });
});

test.after.always(async () => {
  await engine?.close();
  await rm(directory, { recursive: true, force: true });
});

type Init = Pick<ChatParams, "temperature" | "seed" | "maxTokens" | "maxCompletionTokens"> & { stop?: string[] };

/** One user message, greedy unless the test says otherwise. */
function ask(text: string, init: Init = {}): ChatParams {
  return create(ChatParamsSchema, {
    model: TINY_MODEL_NAME,
    messages: [{ role: Role.USER, content: { case: "text", value: text } }],
    temperature: 0,
    ...init,
  });
}

type Finish = Extract<GenerationEvent, { type: "finish" }>;

/** Runs a generation to its end; the finish event must come last and only once. */
async function generate(t: ExecutionContext, params: ChatParams, signal = new AbortController().signal): Promise<{ text: string; finish: Finish }> {
  const events: GenerationEvent[] = [];
  for await (const event of engine.generate(params, signal)) events.push(event);
  const finishes = events.filter((event) => event.type === "finish");
  t.is(finishes.length, 1, "exactly one finish event");
  t.is(events.at(-1)?.type, "finish", "the finish event comes last");
  const text = events.map((event) => (event.type === "text" ? event.text : "")).join("");
  return { text, finish: finishes[0] as Finish };
}

/**
 * Tokens of the tiny model's ChatML rendering: BOS, then one byte token per byte (the vocabulary
 * has no merges and no special tokens for the ChatML markers).
 */
const renderedTokens = (turns: Array<[role: string, text: string]>) =>
  1 + Buffer.byteLength(turns.map(([role, text]) => `<|im_start|>${role}\n${text}<|im_end|>\n`).join("") + "<|im_start|>assistant\n");

test.serial("the engine describes its model and starts idle", (t) => {
  t.is(engine.info.name, TINY_MODEL_NAME);
  t.is(engine.info.architecture, "llama");
  t.is(engine.contextSize, contextSize);
  t.is(engine.gpu, undefined, "gpu: false runs on the CPU");
  t.deepEqual(engine.load(), { queueLength: 0, activeSequences: 0, tokensPerSecond: 0 });
});

test.serial("generated tokens show in tokensPerSecond", async (t) => {
  const { finish } = await generate(t, ask("Hi", { maxTokens: 16 }));
  t.is(finish.completionTokens, 16);
  t.true(engine.load().tokensPerSecond > 0);
  t.is(engine.load().activeSequences, 0);
});

test.serial("temperature 0 gives the same text every time, and the text depends on the prompt", async (t) => {
  const first = await generate(t, ask("Once upon a time", { maxTokens: 24 }));
  const second = await generate(t, ask("Once upon a time", { maxTokens: 24 }));
  t.true(first.text.length > 0);
  t.is(second.text, first.text);
  t.deepEqual(second.finish, first.finish);
  const other = await generate(t, ask("Hello there", { maxTokens: 24 }));
  t.not(other.text, first.text);
});

test.serial("the same seed repeats a sampled answer, another seed changes it", async (t) => {
  const params = (seed: bigint) => ask("Hi", { temperature: 1, seed, maxTokens: 32 });
  const first = await generate(t, params(42n));
  const again = await generate(t, params(42n));
  const other = await generate(t, params(43n));
  t.is(again.text, first.text);
  t.not(other.text, first.text);
});

test.serial("maxTokens N gives exactly N completion tokens and finish reason LENGTH", async (t) => {
  for (const maxTokens of [1, 7, 40]) {
    const { text, finish } = await generate(t, ask("Hi", { maxTokens }));
    t.is(finish.completionTokens, maxTokens);
    t.is(finish.reason, FinishReason.LENGTH);
    // Greedy decoding of the tiny model prints one ASCII character per token.
    t.is(text.length, maxTokens);
  }
});

test.serial("maxCompletionTokens wins over maxTokens", async (t) => {
  const { finish } = await generate(t, ask("Hi", { maxTokens: 9, maxCompletionTokens: 5 }));
  t.is(finish.completionTokens, 5);
  t.is(finish.reason, FinishReason.LENGTH);
});

test.serial("a completion is cut at the end of the context", async (t) => {
  const text = "x".repeat(contextSize - renderedTokens([["user", ""]]) - 6);
  const { finish } = await generate(t, ask(text, { maxTokens: 50 }));
  t.is(finish.promptTokens, contextSize - 6);
  t.is(finish.completionTokens, 6);
  t.is(finish.reason, FinishReason.LENGTH);
});

test.serial("promptTokens counts the prompt rendered with the model's chat template", async (t) => {
  const short = await generate(t, ask("Hi", { maxTokens: 1 }));
  t.is(short.finish.promptTokens, renderedTokens([["user", "Hi"]]));
  const longer = await generate(t, ask("Hi, how are you today?", { maxTokens: 1 }));
  t.is(longer.finish.promptTokens, renderedTokens([["user", "Hi, how are you today?"]]));
  t.true(longer.finish.promptTokens > short.finish.promptTokens);

  const conversation = create(ChatParamsSchema, {
    messages: [
      { role: Role.SYSTEM, content: { case: "text", value: "Be brief." } },
      { role: Role.USER, content: { case: "text", value: "Hi" } },
      { role: Role.ASSISTANT, content: { case: "text", value: "Hello!" } },
      { role: Role.USER, content: { case: "text", value: "Bye" } },
    ],
    temperature: 0,
    maxTokens: 1,
  });
  const { finish } = await generate(t, conversation);
  t.is(finish.promptTokens, renderedTokens([["system", "Be brief."], ["user", "Hi"], ["assistant", "Hello!"], ["user", "Bye"]]));
});

test.serial("a stop sequence ends the answer early, without the stop text", async (t) => {
  const maxTokens = 16;
  const free = await generate(t, ask("Hello there", { maxTokens }));
  t.true(free.text.length >= 8, `the greedy answer is long enough to cut: ${JSON.stringify(free.text)}`);
  const middle = Math.floor(free.text.length / 2) - 1;
  const stop = free.text.slice(middle, middle + 2);
  const expected = free.text.slice(0, free.text.indexOf(stop));

  const stopped = await generate(t, ask("Hello there", { maxTokens, stop: [stop] }));
  t.is(stopped.text, expected, `stop ${JSON.stringify(stop)} in ${JSON.stringify(free.text)}`);
  t.false(stopped.text.includes(stop));
  t.is(stopped.finish.reason, FinishReason.STOP);
  t.true(stopped.finish.completionTokens < maxTokens);

  // An empty stop string is ignored rather than stopping at once.
  const ignored = await generate(t, ask("Hello there", { maxTokens, stop: [""] }));
  t.is(ignored.text, free.text);
  t.is(ignored.finish.reason, FinishReason.LENGTH);
});

test.serial("aborting mid-stream ends with Canceled and frees the sequence", async (t) => {
  const abort = new AbortController();
  let texts = 0;
  const error = await t.throwsAsync(
    (async () => {
      for await (const event of engine.generate(ask("Hi", { maxTokens: 400 }), abort.signal)) {
        if (event.type === "text" && ++texts === 3) abort.abort();
      }
    })(),
    { instanceOf: ConnectError },
  );
  t.is(error?.code, Code.Canceled);
  t.true(texts < 400, "decoding stopped long before maxTokens");
  t.deepEqual({ ...engine.load(), tokensPerSecond: 0 }, { queueLength: 0, activeSequences: 0, tokensPerSecond: 0 });

  const after = await generate(t, ask("Hi", { maxTokens: 4 }));
  t.is(after.finish.completionTokens, 4, "the engine still answers after an abort");
});

test.serial("a consumer that stops reading frees the sequence", async (t) => {
  for await (const event of engine.generate(ask("Hi", { maxTokens: 400 }), new AbortController().signal)) {
    if (event.type === "text") break;
  }
  t.is(engine.load().activeSequences, 0);
  t.is(engine.load().queueLength, 0);
});

test.serial("an aborted request waiting in the queue never runs", async (t) => {
  const busy = [0, 1].map(() => engine.generate(ask("Hi", { maxTokens: 16 }), new AbortController().signal)[Symbol.asyncIterator]());
  const started = busy.map((stream) => stream.next());
  const abort = new AbortController();
  const waiting = engine.generate(ask("Hi", { maxTokens: 16 }), abort.signal)[Symbol.asyncIterator]().next();
  t.like(engine.load(), { activeSequences: 2, queueLength: 1 });
  abort.abort();
  const error = await t.throwsAsync(waiting, { instanceOf: ConnectError });
  t.is(error?.code, Code.Canceled);
  t.is(engine.load().queueLength, 0);
  for (const [index, stream] of busy.entries()) {
    await started[index];
    for (let next = await stream.next(); !next.done; next = await stream.next());
  }
  t.is(engine.load().activeSequences, 0);
});

test.serial("with parallel 2 and maxQueue 1 three requests complete and a fourth is refused", async (t) => {
  const maxTokens = 32;
  const solo = await generate(t, ask("Hi", { maxTokens }));
  const streams = [0, 1, 2].map(() => engine.generate(ask("Hi", { maxTokens }), new AbortController().signal)[Symbol.asyncIterator]());
  // Starting a stream takes its slot (or its place in the queue) at once.
  const firsts = streams.map((stream) => stream.next());
  t.like(engine.load(), { activeSequences: 2, queueLength: 1 });

  const fourth = engine.generate(ask("Hi", { maxTokens }), new AbortController().signal)[Symbol.asyncIterator]().next();
  const error = await t.throwsAsync(fourth, { instanceOf: ConnectError });
  t.is(error?.code, Code.ResourceExhausted);
  t.is(error?.metadata.get("retry-after"), "1");

  const results = await Promise.all(
    streams.map(async (stream, index) => {
      let text = "";
      let finish: Finish | undefined;
      for (let next = await firsts[index]!; !next.done; next = await stream.next()) {
        if (next.value.type === "text") text += next.value.text;
        else finish = next.value;
      }
      return { text, finish };
    }),
  );
  for (const result of results) {
    t.is(result.finish?.reason, FinishReason.LENGTH);
    t.is(result.finish?.completionTokens, maxTokens);
    t.is(result.finish?.promptTokens, solo.finish.promptTokens);
    t.is(result.text.length, maxTokens);
    // Batched sequences, and the queued request reusing a freed sequence, answer as a lone request does.
    t.is(result.text, solo.text);
  }
  t.deepEqual({ ...engine.load(), tokensPerSecond: 0 }, { queueLength: 0, activeSequences: 0, tokensPerSecond: 0 });
});

test.serial("a prompt longer than the context is InvalidArgument with OpenAI's context_length_exceeded", async (t) => {
  const error = await t.throwsAsync(generate(t, ask("x".repeat(contextSize), { maxTokens: 4 })), { instanceOf: ConnectError });
  t.is(error?.code, Code.InvalidArgument);
  const upstream = error === undefined ? undefined : findUpstreamError(error);
  t.is(upstream?.code, "context_length_exceeded");
  t.is(upstream?.httpStatus, 400);
  t.is(upstream?.param, "messages");
  t.is(upstream?.type, "invalid_request_error");
  t.regex(upstream?.message ?? "", new RegExp(`maximum context length is ${contextSize} tokens`));
  t.is(engine.load().activeSequences, 0, "the refused request gave its slot back");

  // A prompt of exactly contextSize tokens leaves no room to answer either.
  const exact = "x".repeat(contextSize - renderedTokens([["user", ""]]));
  const full = await t.throwsAsync(generate(t, ask(exact, { maxTokens: 1 })), { instanceOf: ConnectError });
  t.is(full?.code, Code.InvalidArgument);
});

test("a file that is not GGUF is a ModelFileError, not a crash", async (t) => {
  const path = join(directory, "notes.gguf");
  await writeFile(path, "these are not the weights you are looking for\n");
  const error = await t.throwsAsync(loadLlamaEngine({ modelPath: path, threads: 1, gpu: false, parallel: 1, maxQueue: 0, contextSize: 256 }), {
    instanceOf: ModelFileError,
  });
  t.is(error?.problem, "not-gguf");
  t.true(error?.message.includes(path));
});

test("a missing file is a ModelFileError", async (t) => {
  const path = join(directory, "absent.gguf");
  const error = await t.throwsAsync(loadLlamaEngine({ modelPath: path, threads: 1, gpu: false, parallel: 1, maxQueue: 0, contextSize: 256 }), {
    instanceOf: ModelFileError,
  });
  t.is(error?.problem, "missing");
});
