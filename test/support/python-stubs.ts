import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const clientScript = path.join(repositoryRoot, "test", "support", "python", "chat_client.py");

/** Debian's interpreter: the one with python3-grpcio; a pyenv python earlier on PATH lacks grpc. */
export const python = "/usr/bin/python3";

let generated: Promise<string> | undefined;

/**
 * Generates the Python stubs (messages and grpcio services) of every proto under proto/ into a
 * temporary folder with `buf generate --template buf.gen.python.yaml`, once per process, and
 * returns that folder. Needs protoc's python plugin and grpc_python_plugin (protobuf-compiler,
 * protobuf-compiler-grpc); the folder is removed when the process exits.
 */
export function generatePythonStubs(): Promise<string> {
  generated ??= (async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "iir-python-stubs-"));
    process.once("exit", () => fs.rmSync(directory, { recursive: true, force: true }));
    const binaries = path.join(repositoryRoot, "node_modules", ".bin");
    await run(path.join(binaries, "buf"), ["generate", "--template", "buf.gen.python.yaml", "-o", directory], {
      cwd: repositoryRoot,
      env: { ...process.env, PATH: `${binaries}${path.delimiter}${process.env.PATH ?? ""}` },
    });
    return directory;
  })();
  return generated;
}

/**
 * Why Python gRPC tests cannot run here (a missing interpreter, grpcio, protobuf or stub plugin),
 * or undefined when they can.
 */
export async function pythonGrpcMissing(): Promise<string | undefined> {
  try {
    await run(python, ["-c", "import grpc, google.protobuf"]);
  } catch (error) {
    return `${python} cannot import grpc and google.protobuf (apt-get install python3-grpcio python3-protobuf): ${String(error)}`;
  }
  for (const plugin of ["protoc", "grpc_python_plugin"]) {
    try {
      await run("which", [plugin]);
    } catch {
      return `${plugin} is not on PATH (apt-get install protobuf-compiler protobuf-compiler-grpc)`;
    }
  }
  return undefined;
}

/** One line printed by test/support/python/chat_client.py: a response message or the call's error. */
export type PythonCallLine =
  | { readonly message: Record<string, unknown>; readonly error?: undefined }
  | { readonly error: { readonly code: string; readonly details: string }; readonly message?: undefined };

/** Options of {@link callWithPython}. */
export interface PythonCallOptions {
  /** Deadline of the call in seconds (default 30). */
  readonly timeoutSeconds?: number;
  /** Call metadata, e.g. `{ authorization: "Bearer …" }`. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * Calls `method` ("package.Service/Method") on `target` ("host:port", plaintext) from Python grpcio
 * with the generated stubs; `request` is written as proto3 JSON. Resolves with every line the
 * client printed: one per response (several for a server stream), then an error line if the call
 * failed. Rejects when the script itself fails.
 */
export async function callWithPython(
  target: string,
  method: string,
  request: unknown,
  options: PythonCallOptions = {},
): Promise<PythonCallLine[]> {
  const stubs = await generatePythonStubs();
  const args = [clientScript, "--stubs", stubs, "--timeout", String(options.timeoutSeconds ?? 30)];
  for (const [key, value] of Object.entries(options.metadata ?? {})) args.push("--metadata", `${key}=${value}`);
  args.push(target, method, JSON.stringify(request));
  const { stdout } = await run(python, args, { cwd: repositoryRoot });
  return stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as PythonCallLine);
}
