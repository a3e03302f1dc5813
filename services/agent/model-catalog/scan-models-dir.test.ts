import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import test from "ava";
import { writeSizedModel, modelShapes } from "../../../test/support/sized-models.js";
import { writeTinyModel } from "../model-file/tiny-model.js";
import { scanModelsDirectory } from "./scan-models-dir.js";
import { resolveModelFileName } from "./model-file-name.js";

function collectingLogger() {
  const warnings: Array<{ message: string; fields?: Record<string, unknown> }> = [];
  return { warnings, logger: { warn: (message: string, fields?: Record<string, unknown>) => void warnings.push({ message, fields }) } };
}

test("describes each GGUF file of the directory and skips hostile ones with a warning", async (t) => {
  const directory = await mkdtemp(path.join(os.tmpdir(), "iir-scan-"));
  t.teardown(() => rm(directory, { recursive: true, force: true }));
  const tiny = await writeTinyModel(path.join(directory, "tiny.gguf"));
  await writeSizedModel(directory, "medium.gguf", modelShapes.medium);
  const whole = await readFile(tiny);
  await writeFile(path.join(directory, "truncated.gguf"), whole.subarray(0, Math.floor(whole.length / 2)));
  await writeFile(path.join(directory, "not-a-model.gguf"), "hello, I am text");
  await writeFile(path.join(directory, "notes.txt"), "ignored");
  await mkdir(path.join(directory, "nested.gguf"));
  await symlink(tiny, path.join(directory, "linked.gguf"));
  await symlink(path.join(directory, "missing-target"), path.join(directory, "dangling.gguf"));
  const { warnings, logger } = collectingLogger();

  const files = await scanModelsDirectory(directory, { gpu: false, logger });

  t.deepEqual(files.map((file) => file.fileName), ["linked.gguf", "medium.gguf", "tiny.gguf"]);
  t.deepEqual(warnings.map((warning) => warning.fields?.file).sort(), ["not-a-model.gguf", "truncated.gguf"]);
  t.true(warnings.every((warning) => warning.message === "model file skipped"));
  const medium = files.find((file) => file.fileName === "medium.gguf")!;
  t.is(medium.modelId, "local/medium");
  t.is(medium.architecture, "llama");
  t.is(medium.contextLength, 16384);
  t.is(medium.quantization, "F32");
  t.true(medium.parameterCount > 2_000_000n);
  t.deepEqual(medium.estimates.map((estimate) => estimate.contextSize), [2048, 4096, 8192, 16384]);
  // More context, more memory: the recommendations rely on it.
  for (let index = 1; index < medium.estimates.length; index++) t.true(medium.estimates[index]!.ramBytes > medium.estimates[index - 1]!.ramBytes);
  t.true(medium.estimates[0]!.ramBytes > medium.sizeBytes, "the estimate counts the weights and the context");
  t.is(medium.estimates[0]!.vramBytes, 0n);
  const tinyFile = files.find((file) => file.fileName === "tiny.gguf")!;
  t.true(tinyFile.sizeBytes < medium.sizeBytes);
  t.true(tinyFile.parameterCount < medium.parameterCount);
});

test("keeps at most maxFiles files and says so", async (t) => {
  const directory = await mkdtemp(path.join(os.tmpdir(), "iir-scan-"));
  t.teardown(() => rm(directory, { recursive: true, force: true }));
  for (const name of ["a.gguf", "b.gguf", "c.gguf"]) await writeTinyModel(path.join(directory, name));
  const { warnings, logger } = collectingLogger();
  const files = await scanModelsDirectory(directory, { gpu: false, logger, maxFiles: 2 });
  t.deepEqual(files.map((file) => file.fileName), ["a.gguf", "b.gguf"]);
  t.is(warnings.length, 1);
});

test("a load request names a bare .gguf file inside the directory, nothing else", async (t) => {
  const directory = await mkdtemp(path.join(os.tmpdir(), "iir-scan-"));
  t.teardown(() => rm(directory, { recursive: true, force: true }));
  await writeTinyModel(path.join(directory, "tiny.gguf"));
  t.is(await resolveModelFileName(directory, "tiny.gguf"), path.join(directory, "tiny.gguf"));
  for (const name of ["../tiny.gguf", "/etc/passwd", "sub/tiny.gguf", "..", ".hidden.gguf", "tiny.bin", "", "a\\b.gguf", "x\0.gguf"]) {
    const error = await t.throwsAsync(resolveModelFileName(directory, name));
    t.regex(error!.message, /invalid_argument/, name);
  }
  t.regex((await t.throwsAsync(resolveModelFileName(directory, "absent.gguf")))!.message, /not_found/);
  t.regex((await t.throwsAsync(resolveModelFileName(undefined, "tiny.gguf")))!.message, /failed_precondition/);
});
