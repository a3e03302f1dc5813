import test from "ava";
import { Code, ConnectError } from "@connectrpc/connect";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findUpstreamError } from "../../common/errors.js";
import { ensureTinyModel } from "../model-file/tiny-model.js";
import { loadLlamaEngine, type LlamaEngine } from "./llama-engine.js";

// Embeddings on the built-in tiny model: its random weights give vectors without meaning, but
// they must be finite, of the model's width, and the same for the same text.

const contextSize = 256;
let directory = "";
let engine: LlamaEngine;

test.before(async () => {
  directory = await mkdtemp(join(tmpdir(), "iir-embedding-runner-"));
  const modelPath = await ensureTinyModel(join(directory, "iir-tiny.gguf"));
  engine = await loadLlamaEngine({ modelPath, threads: 1, gpu: false, parallel: 1, maxQueue: 1, contextSize });
});

test.after.always(async () => {
  await engine?.close();
  await rm(directory, { recursive: true, force: true });
});

test.serial("one finite vector of the model's width per text, in order; equal texts give equal vectors", async (t) => {
  const { vectors, promptTokens } = await engine.embed(["hello", "world", "hello"], new AbortController().signal);
  t.is(vectors.length, 3);
  for (const vector of vectors) {
    t.is(vector.length, engine.info.embeddingLength);
    t.true(vector.every(Number.isFinite));
  }
  t.deepEqual(vectors[2], vectors[0]);
  t.notDeepEqual(vectors[1], vectors[0]);
  // Byte tokens: five letters and the begin token, three times.
  t.is(promptTokens, 3 * (5 + 1));
  const alone = await engine.embed(["world"], new AbortController().signal);
  t.deepEqual(alone.vectors[0], vectors[1], "a text's vector does not depend on the texts before it");
});

test.serial("a text longer than the context is InvalidArgument context_length_exceeded naming the input", async (t) => {
  const error = await t.throwsAsync(engine.embed(["short", "x".repeat(contextSize)], new AbortController().signal));
  const connectError = ConnectError.from(error);
  t.is(connectError.code, Code.InvalidArgument);
  t.is(findUpstreamError(connectError)?.code, "context_length_exceeded");
  t.regex(connectError.rawMessage, /input\[1\]/);
});

test.serial("a canceled request stops before it embeds anything and takes no chat sequence", async (t) => {
  const controller = new AbortController();
  controller.abort();
  const canceled = await t.throwsAsync(engine.embed(["x"], controller.signal));
  t.is(ConnectError.from(canceled).code, Code.Canceled);
  t.is(engine.load().activeSequences, 0);
});
