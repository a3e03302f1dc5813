import test, { type ExecutionContext } from "ava";
import { spawn, type SpawnOptions } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeGguf } from "./gguf-writer.js";
import { createTinyModelSpec } from "./tiny-model.js";
import { inspectGgufFile, ModelFileError, type ModelFileProblem } from "./validate-gguf.js";

let directory = "";
const spec = createTinyModelSpec();
const valid = encodeGguf(spec);

test.before(async () => {
  directory = await mkdtemp(join(tmpdir(), "iir-validate-gguf-"));
  // Readable by the unprivileged user of the permission test.
  await chmod(directory, 0o755);
});

test.after.always(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function writeCase(name: string, bytes: Buffer | string): Promise<string> {
  const path = join(directory, name);
  await writeFile(path, bytes);
  return path;
}

async function assertRejected(t: ExecutionContext, path: string, problem: ModelFileProblem, detail: RegExp): Promise<void> {
  const error = await t.throwsAsync(inspectGgufFile(path), { instanceOf: ModelFileError });
  t.is(error?.problem, problem);
  t.true(error?.message.startsWith(`model file ${path} `), error?.message);
  t.regex(error?.message ?? "", detail);
}

type ChildResult = { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

/** Runs a child process without blocking the event loop (spawnSync would stall the other tests). */
function runChild(command: string, args: string[], options: SpawnOptions = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

function withU32(bytes: Buffer, offset: number, value: number): Buffer {
  const copy = Buffer.from(bytes);
  copy.writeUInt32LE(value, offset);
  return copy;
}

function withU64(bytes: Buffer, offset: number, value: bigint): Buffer {
  const copy = Buffer.from(bytes);
  copy.writeBigUInt64LE(value, offset);
  return copy;
}

/** Byte offset of a tensor info's `n_dims` field, found by its length-prefixed name. */
function tensorInfoOffset(bytes: Buffer, name: string): number {
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(name.length));
  const prefixed = Buffer.concat([length, Buffer.from(name)]);
  return bytes.indexOf(prefixed) + prefixed.length;
}

function u32(value: number): Buffer {
  return withU32(Buffer.alloc(4), 0, value);
}

function u64(value: bigint): Buffer {
  return withU64(Buffer.alloc(8), 0, value);
}

/** Raw GGUF v3 bytes: a header claiming `tensors` and `entries`, then whatever follows. */
function ggufBytes(tensors: bigint, entries: bigint, ...rest: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from("GGUF", "latin1"), u32(3), u64(tensors), u64(entries), ...rest]);
}

/** A metadata entry `a` holding an array of `length` items of `itemType`, `items` its bytes. */
function arrayEntry(itemType: number, length: bigint, items = Buffer.alloc(0)): Buffer {
  return Buffer.concat([u64(1n), Buffer.from("a"), u32(9), u32(itemType), u64(length), items]);
}

function specWithout(...keys: string[]): Buffer {
  return encodeGguf({ ...spec, metadata: spec.metadata.filter(([key]) => !keys.includes(key)) });
}

test("a valid tiny model passes and its header is reported", async (t) => {
  const info = await inspectGgufFile(await writeCase("valid.gguf", valid));
  t.like(info, {
    version: 3,
    architecture: "llama",
    name: "iir-tiny",
    contextLength: 4096,
    blockCount: 2,
    embeddingLength: 64,
    headCount: 4,
    headCountKv: 4,
    feedForwardLength: 128,
    tokenizerModel: "llama",
    vocabularySize: 260,
    tensorCount: 21,
    fileSize: valid.length,
  });
  t.true(info.chatTemplate?.includes("<|im_start|>"));
});

test("a missing file and a directory are named as such", async (t) => {
  await assertRejected(t, join(directory, "nope.gguf"), "missing", /does not exist/);
  await assertRejected(t, join(directory, "valid.gguf", "inside"), "missing", /does not exist/);
  const folder = join(directory, "folder.gguf");
  await mkdir(folder);
  await assertRejected(t, folder, "not-a-file", /directory/);
});

test("a file without read permission is reported as unreadable", async (t) => {
  const path = await writeCase("locked.gguf", valid);
  await chmod(path, 0o000);
  if (process.getuid?.() !== 0) return assertRejected(t, path, "unreadable", /permission denied/);
  // root reads any file: check as an unprivileged user in a child process instead.
  const script = "const m = await import(process.argv[1]); await m.inspectGgufFile(process.argv[2]).catch((e) => console.log(e.message));";
  const child = await runChild(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script,
    new URL("./validate-gguf.ts", import.meta.url).pathname, path], { uid: 65534, gid: 65534 });
  t.is(child.stdout.trim(), `model file ${path} cannot be read: permission denied (EACCES)`, child.stderr);
});

test("files that are not GGUF are rejected by their first bytes", async (t) => {
  await assertRejected(t, await writeCase("empty.gguf", ""), "not-gguf", /only 0 bytes/);
  await assertRejected(t, await writeCase("text.gguf", "hello world"), "not-gguf", /68656c6c, not "GGUF"/);
  const pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 4\n";
  await assertRejected(t, await writeCase("pointer.gguf", pointer), "not-gguf", /git lfs pull/);
});

test("unsupported versions are rejected", async (t) => {
  await assertRejected(t, await writeCase("v1.gguf", withU32(valid, 4, 1)), "unsupported-version", /version 1;/);
  await assertRejected(t, await writeCase("big.gguf", withU32(valid, 4, 0x03000000)), "unsupported-version", /big-endian/);
});

test("truncation is found in the header, the metadata and the tensor data", async (t) => {
  await assertRejected(t, await writeCase("cut-header.gguf", valid.subarray(0, 12)), "truncated", /tensor count at byte 8/);
  await assertRejected(t, await writeCase("cut-metadata.gguf", valid.subarray(0, 1500)), "truncated", /tokenizer\.ggml\.tokens/);
  await assertRejected(t, await writeCase("cut-data.gguf", valid.subarray(0, valid.length - 1000)), "truncated",
    /tensor output\.weight ends at byte \d+ but the file has \d+ bytes \(1000 missing\)/);
});

test("absurd counts and lengths fail without allocating them", async (t) => {
  await assertRejected(t, await writeCase("kv-count.gguf", withU64(valid, 16, 1n << 40n)), "truncated", /1099511627776 metadata entries/);
  await assertRejected(t, await writeCase("tensor-count.gguf", withU64(valid, 8, 1n << 62n)), "corrupt", /tensor count at byte 8/);
  await assertRejected(t, await writeCase("key-length.gguf", withU64(valid, 24, 1n << 50n)), "truncated", /metadata key #0/);
  const dims = tensorInfoOffset(valid, "token_embd.weight");
  await assertRejected(t, await writeCase("dims.gguf", withU32(valid, dims, 9)), "corrupt", /token_embd\.weight has 9 dimensions/);
});

test("hostile headers are stopped before node-llama-cpp's reader, which trusts their lengths", async (t) => {
  // Unchecked, each of these crashed, hung or filled memory in node-llama-cpp 3.22.1's readGgufFileInfo.
  // A 3 GiB key length: its read of over 2 GiB fails a native assertion and aborts Node.
  await assertRejected(t, await writeCase("key-3gib.gguf", withU64(valid, 24, 3n << 30n)), "truncated", /metadata key #0 at byte 32 needs 3221225472 bytes/);
  // Reads past the end give zeros, so huge counts in a short file loop forever, growing a buffer.
  await assertRejected(t, await writeCase("bare-kv.gguf", ggufBytes(0n, 1n << 40n)), "truncated", /1099511627776 metadata entries/);
  await assertRejected(t, await writeCase("bare-tensors.gguf", ggufBytes(1n << 40n, 0n)), "truncated", /1099511627776 tensor infos/);
  // An array length past the end: one JS value per item until the heap runs out.
  await assertRejected(t, await writeCase("long-array.gguf", ggufBytes(0n, 1n, arrayEntry(0, 1n << 40n))), "truncated", /1099511627776 items of a/);
  // llama.cpp reads no arrays of arrays.
  await assertRejected(t, await writeCase("nested.gguf", ggufBytes(0n, 1n, arrayEntry(9, 1n, Buffer.concat([u32(0), u64(0n)])))), "corrupt", /a has unsupported item type 9/);
  // Within the file, yet more than the reader should hold: a header past 64 MiB (a sparse file), too many values or tensors.
  const bigString = await writeCase("big-string.gguf", ggufBytes(0n, 1n, u64(1n), Buffer.from("a"), u32(8), u64(65n << 20n)));
  await truncate(bigString, 66 << 20);
  await assertRejected(t, bigString, "corrupt", /past 64 MiB/);
  const manyItems = 5 << 20;
  await assertRejected(t, await writeCase("many-items.gguf", ggufBytes(0n, 1n, arrayEntry(0, BigInt(manyItems), Buffer.alloc(manyItems)))), "corrupt",
    /5242880 items of a take the header past 4194304 values/);
  const manyTensors = await writeCase("many-tensors.gguf", ggufBytes(70_000n, 0n));
  await truncate(manyTensors, 2 << 20);
  await assertRejected(t, manyTensors, "corrupt", /70000 tensors/);
});

test("quantized tensor sizes come from their block layout", async (t) => {
  // output.weight [64, 260] is the last tensor; as Q8_0 (34 bytes per 32 values) it needs 17680 bytes.
  const typeOffset = tensorInfoOffset(valid, "output.weight") + 4 + 2 * 8;
  const asQ8 = withU32(valid, typeOffset, 8);
  const q8End = valid.length - 64 * 260 * 4 + 17680;
  await t.notThrowsAsync(inspectGgufFile(await writeCase("q8.gguf", asQ8.subarray(0, q8End))));
  await assertRejected(t, await writeCase("q8-cut.gguf", asQ8.subarray(0, q8End - 1)), "truncated", /1 missing/);
  // Q4_K blocks hold 256 values; a 64-value row cannot be Q4_K.
  await assertRejected(t, await writeCase("q4k.gguf", withU32(valid, typeOffset, 12)), "corrupt", /not a multiple of the Q4_K block size 256/);
  const unknown = await inspectGgufFile(await writeCase("unknown-type.gguf", withU32(valid, typeOffset, 99)));
  t.deepEqual(unknown.unsizedTensorTypes, [99]);
});

test("every missing architecture key is listed in one error", async (t) => {
  const keys = ["context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count"];
  const path = await writeCase("no-keys.gguf", specWithout(...keys.map((key) => `llama.${key}`)));
  await assertRejected(t, path, "missing-key", new RegExp(keys.map((key) => `llama\\.${key}`).join(", ")));
  const zeroHeads = encodeGguf({ ...spec, metadata: spec.metadata.map(([key, value]) =>
    [key, key === "llama.attention.head_count" ? { type: "uint32", value: 0 } : value] as const) });
  await assertRejected(t, await writeCase("zero-heads.gguf", zeroHeads), "missing-key", /head_count missing or not a positive number/);
  await assertRejected(t, await writeCase("no-arch.gguf", specWithout("general.architecture")), "missing-key", /general\.architecture/);
});

test("per-layer values, stored as arrays, count by their largest item", async (t) => {
  const perLayer = encodeGguf({ ...spec, metadata: spec.metadata.map(([key, value]) =>
    [key, key === "llama.attention.head_count" ? { type: "int32[]", value: [0, 4] } : value] as const) });
  const info = await inspectGgufFile(await writeCase("per-layer.gguf", perLayer));
  t.is(info.headCount, 4);
});

test("a file without head_count, which aborts llama.cpp natively, is rejected before loading", async (t) => {
  const path = await writeCase("no-heads.gguf", specWithout("llama.attention.head_count"));
  await assertRejected(t, path, "missing-key", /llama\.attention\.head_count missing/);
  // What the validator prevents: node-llama-cpp on this file aborts the whole process (GGML_ASSERT).
  // A script file, not `node -e`: node-llama-cpp forks itself to test its binary and `-e` would be inherited.
  const loader = await writeCase("load.mjs", `const { getLlama } = await import("${import.meta.resolve("node-llama-cpp")}");` +
    "const llama = await getLlama({ gpu: false, build: 'never', maxThreads: 1 });" +
    "await llama.loadModel({ modelPath: process.argv[2] }).catch(() => process.exit(3));");
  const child = await runChild("sh", ["-c", 'ulimit -c 0; exec "$@"', "sh", process.execPath, loader, path]);
  t.is(child.signal, "SIGABRT", `exit ${child.status}: ${child.stderr.slice(-500)}`);
  t.regex(child.stderr, /GGML_ASSERT/);
});
