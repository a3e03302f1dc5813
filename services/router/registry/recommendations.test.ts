import { create } from "@bufbuild/protobuf";
import test from "ava";
import { HardwareSchema, ModelFileSchema, type ModelFile } from "../../../gen/iir/registry/v1/registry_pb.js";
import { memoryBudget, recommendModels } from "./recommendations.js";

const MiB = 1024 ** 2;
const settings = { headroomFraction: 0.15, reserveBytes: 0 };

/** A file whose needs grow by `perContext` MiB for each 2048 tokens, on top of `weights` MiB. */
function file(name: string, parameters: number, weights: number, perContext: number, contexts: number[], vramFactor = 0): ModelFile {
  return create(ModelFileSchema, {
    fileName: `${name}.gguf`,
    modelId: `local/${name}`,
    parameterCount: BigInt(parameters),
    sizeBytes: BigInt(weights * MiB),
    estimates: contexts.map((contextSize) => {
      const bytes = (weights + (perContext * contextSize) / 2048) * MiB;
      return { contextSize, ramBytes: BigInt(bytes), vramBytes: BigInt(Math.round(bytes * vramFactor)) };
    }),
  });
}

const cpu = (mebibytes: number) => create(HardwareSchema, { memoryBytes: BigInt(mebibytes * MiB), cpuCores: 4 });

test("the budget keeps the headroom share and the reserve free", (t) => {
  t.deepEqual(memoryBudget(cpu(1000), settings), { kind: "ram", bytes: Math.floor(850 * MiB), ramBytes: Math.floor(850 * MiB) });
  t.is(memoryBudget(cpu(1000), { headroomFraction: 0.1, reserveBytes: 100 * MiB }).bytes, 800 * MiB);
  t.is(memoryBudget(cpu(100), { headroomFraction: 0, reserveBytes: 200 * MiB }).bytes, 0);
  t.is(memoryBudget(undefined, settings).bytes, 0);
  const gpu = memoryBudget(create(HardwareSchema, { memoryBytes: BigInt(1000 * MiB), gpuVramBytes: BigInt(2000 * MiB) }), settings);
  t.is(gpu.kind, "vram");
  t.is(gpu.bytes, 1700 * MiB);
});

test("the largest model that fits is the top pick, at the largest context that fits", (t) => {
  const small = file("small", 1e6, 10, 10, [2048, 4096]);
  const medium = file("medium", 1e8, 100, 50, [2048, 4096, 8192, 16384]);
  const big = file("big", 1e9, 900, 100, [2048, 4096]);
  const { recommendations } = recommendModels([small, big, medium], cpu(400), ["local/small"], settings);
  t.deepEqual(recommendations.map((entry) => [entry.fileName, entry.fits, entry.rank, entry.recommended]), [
    ["medium.gguf", true, 1, true],
    ["small.gguf", true, 2, false],
    ["big.gguf", false, 0, false],
  ]);
  // 340 MiB after headroom: medium needs 100 + 50·n per 2048 tokens, so 8192 (300 MiB) fits and 16384 does not.
  t.is(recommendations[0]!.maxContextSize, 8192);
  t.is(recommendations[1]!.maxContextSize, 4096);
  t.true(recommendations[1]!.loaded);
  t.is(recommendations[2]!.maxContextSize, 0);
  t.regex(recommendations[2]!.reason, /needs .* MiB ram with a context of 2048 tokens/);
});

test("a bigger agent gets the bigger model and longer contexts", (t) => {
  const files = [file("medium", 1e8, 100, 50, [2048, 4096, 8192, 16384]), file("big", 1e9, 900, 100, [2048, 4096])];
  const { recommendations } = recommendModels(files, cpu(4000), [], settings);
  t.deepEqual(recommendations.map((entry) => [entry.fileName, entry.rank, entry.maxContextSize]), [
    ["big.gguf", 1, 4096],
    ["medium.gguf", 2, 16384],
  ]);
});

test("equal sizes rank by context, then name; nothing fits without memory", (t) => {
  const files = [file("b", 1e6, 10, 10, [2048, 4096]), file("a", 1e6, 10, 10, [2048]), file("c", 1e6, 10, 10, [2048, 4096])];
  t.deepEqual(recommendModels(files, cpu(1000), [], settings).recommendations.map((entry) => entry.fileName), ["b.gguf", "c.gguf", "a.gguf"]);
  t.true(recommendModels(files, undefined, [], settings).recommendations.every((entry) => !entry.fits && entry.rank === 0));
});

test("on a GPU agent the files are judged by GPU memory", (t) => {
  const hardware = create(HardwareSchema, { memoryBytes: BigInt(64_000 * MiB), gpuVramBytes: BigInt(1000 * MiB) });
  const onGpu = file("model", 1e8, 500, 100, [2048, 4096, 8192], 1);
  const { budget, recommendations } = recommendModels([onGpu], hardware, [], settings);
  t.is(budget.kind, "vram");
  // 850 MiB of VRAM: 600 at 2048 and 700 at 4096 fit, 900 at 8192 does not, however much RAM there is.
  t.is(recommendations[0]!.maxContextSize, 4096);
});
