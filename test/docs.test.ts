import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import test, { type ExecutionContext } from "ava";
import { fromBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema } from "@bufbuild/protobuf/wkt";
import { variablesReadByConfig, variablesReadElsewhere } from "./support/config-variables.js";
import { spawnIir } from "./support/iir-process.js";
import { freePort, stopOnTeardown, temporaryDirectory } from "./support/process-fixtures.js";
import { generatePythonStubs, python, pythonGrpcMissing } from "./support/python-stubs.js";

// The documentation tells the truth: the configuration reference lists what the code reads, the
// README's links lead somewhere, the MkDocs site builds, and the gRPC client examples work.

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const required = process.env.CI_REQUIRE_SERVICES === "1";

// What the tests below need from outside the project, found before any test is declared.
const mkdocsMissing = await run("mkdocs", ["--version"]).then(
  () => undefined,
  (error: unknown) => `mkdocs cannot run (apt-get install mkdocs mkdocs-material): ${String(error)}`,
);
if (mkdocsMissing !== undefined && !required) console.error(`\n!!! SKIPPING the MkDocs build test: ${mkdocsMissing}\n`);
const pythonMissing = await pythonGrpcMissing();
if (pythonMissing !== undefined && !required) console.error(`\n!!! SKIPPING the Python example against iir all: ${pythonMissing}\n`);

/** The names in the first column of every table headed `variable` in docs/configuration.md. */
function variablesDocumented(): Set<string> {
  const names = new Set<string>();
  let inTable = false;
  for (const line of fs.readFileSync(path.join(root, "docs", "configuration.md"), "utf8").split("\n")) {
    if (!line.startsWith("|")) {
      inTable = false;
      continue;
    }
    const firstCell = line.split("|")[1]?.trim() ?? "";
    if (firstCell === "variable") inTable = true;
    else if (inTable && !/^-+$/.test(firstCell)) {
      for (const match of firstCell.matchAll(/`([A-Za-z_][A-Za-z0-9_]*)`/g)) names.add(match[1] ?? "");
    }
  }
  return names;
}

test("the configuration reference lists exactly the variables IIR reads", (t) => {
  const read = new Set([...variablesReadByConfig(), ...variablesReadElsewhere()]);
  const documented = variablesDocumented();
  t.true(documented.size > 50, `docs/configuration.md's tables hold ${documented.size} variables`);
  const undocumented = [...read].filter((name) => !documented.has(name)).sort();
  const notRead = [...documented].filter((name) => !read.has(name)).sort();
  t.deepEqual(undocumented, [], `read by the code but missing from docs/configuration.md: ${undocumented.join(", ")}`);
  t.deepEqual(notRead, [], `in docs/configuration.md but read by no code: ${notRead.join(", ")}`);
});

test("every relative link in README.md leads to an existing file", (t) => {
  const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
  const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1] ?? "");
  const relative = targets.filter((target) => !/^([a-z][a-z0-9+.-]*:|#)/i.test(target));
  t.true(relative.length > 5, `README.md has ${relative.length} relative links`);
  const broken = relative.filter((target) => !fs.existsSync(path.join(root, decodeURIComponent(target.split("#")[0] ?? ""))));
  t.deepEqual(broken, [], `README.md links to missing files: ${broken.join(", ")}`);
});

if (mkdocsMissing === undefined) {
  test("mkdocs build --strict builds the site", async (t) => {
    const site = temporaryDirectory(t, "iir-site-");
    try {
      await run("mkdocs", ["build", "--strict", "-d", site], { cwd: root });
    } catch (error) {
      const { stderr, stdout } = error as { stderr?: string; stdout?: string };
      t.fail(`mkdocs build --strict failed:\n${(stderr ?? "").split("\n").map((line) => line.replace(/\x1b\[[0-9;]*m/g, "")).filter((line) => /WARNING|ERROR|Aborted/.test(line)).join("\n")}${stdout ?? ""}`);
      return;
    }
    t.true(fs.existsSync(path.join(site, "configuration", "index.html")), "the configuration reference is built");
  });
} else if (required) {
  test("mkdocs build --strict builds the site", (t) => t.fail(`mkdocs is required in CI: ${mkdocsMissing}`));
} else {
  test.skip(`mkdocs build --strict builds the site (${mkdocsMissing})`, () => {});
}

const pythonExample = path.join(root, "examples", "python", "chat_stream.py");

test("the Python gRPC example compiles", async (t) => {
  const compiled = path.join(temporaryDirectory(t), "chat_stream.pyc");
  await run(python, ["-c", "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)", pythonExample, compiled]);
  t.true(fs.existsSync(compiled));
});

/** The example as a user runs it; resolves with its exit code and output whatever the code. */
async function runPythonExample(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(python, [pythonExample, ...args], { cwd: root, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof failed.code === "number" ? failed.code : -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? String(error) };
  }
}

async function pythonExampleAgainstIirAll(t: ExecutionContext): Promise<void> {
  const stubs = await generatePythonStubs();
  const directory = temporaryDirectory(t);
  const routerPort = await freePort();
  const iir = stopOnTeardown(
    t,
    spawnIir(["all"], {
      IIR_HOST: "127.0.0.1",
      SQLITE_DB_PATH: path.join(directory, "iir.db"),
      IIR_FACADE_PORT: String(await freePort()),
      IIR_ROUTER_PORT: String(routerPort),
      IIR_AGENT_PORT: String(await freePort()),
      IIR_TINY_MODEL_PATH: path.join(directory, "models", "iir-tiny.gguf"),
      IIR_AGENT_THREADS: "1",
      IIR_AGENT_GPU: "false",
    }),
  );
  await iir.waitForLog("iir started", 60_000);
  const target = `127.0.0.1:${routerPort}`;

  const answer = await runPythonExample(["--stubs", stubs, "--target", target, "--model", "local/iir-tiny", "--max-tokens", "8", "hi"]);
  t.is(answer.code, 0, answer.stderr);
  t.true(answer.stdout.trim().length > 0, "text deltas on stdout");
  t.regex(answer.stderr, /finish: FINISH_REASON_(LENGTH|STOP) \(backend \S+, cached False\)/);
  t.regex(answer.stderr, /usage: \d+ prompt \+ \d+ completion tokens/);

  const unknown = await runPythonExample(["--stubs", stubs, "--target", target, "--model", "no-such-model", "hi"]);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /NOT_FOUND: .*no-such-model/);
}

if (pythonMissing === undefined) {
  test("the Python gRPC example streams from a real iir all", pythonExampleAgainstIirAll);
} else if (required) {
  test("the Python gRPC example streams from a real iir all", (t) => t.fail(`Python gRPC is required in CI: ${pythonMissing}`));
} else {
  test.skip(`the Python gRPC example streams from a real iir all (needs Python grpcio: ${pythonMissing})`, () => {});
}

test("the Go example's buf template generates the packages main.go imports, with local plugins only", async (t) => {
  const directory = temporaryDirectory(t);
  // Stand-ins for protoc-gen-go and protoc-gen-connect-go (Go is not part of the toolchain): each
  // keeps the CodeGeneratorRequest buf sends it and generates nothing.
  for (const plugin of ["protoc-gen-go", "protoc-gen-connect-go"]) {
    const script = path.join(directory, plugin);
    fs.writeFileSync(script, `#!/bin/sh\ncat > "${path.join(directory, plugin)}.$$.request"\n`, { mode: 0o755 });
  }
  const binaries = path.join(root, "node_modules", ".bin");
  const template = fs.readFileSync(path.join(root, "examples", "go", "buf.gen.go.yaml"), "utf8");
  t.notRegex(template, /remote:/, "no remote plugins");
  await run(path.join(binaries, "buf"), ["generate", "--template", "examples/go/buf.gen.go.yaml", "-o", path.join(directory, "out")], {
    cwd: root,
    env: { ...process.env, PATH: [directory, binaries, process.env.PATH ?? ""].join(path.delimiter) },
  });
  // buf calls a plugin once per package.
  const requests = fs
    .readdirSync(directory)
    .filter((name) => name.startsWith("protoc-gen-connect-go.") && name.endsWith(".request"))
    .map((name) => fromBinary(CodeGeneratorRequestSchema, fs.readFileSync(path.join(directory, name))));
  const generated = requests.flatMap((request) => request.fileToGenerate).sort();
  t.deepEqual(generated, ["iir/agent/v1/agent_control.proto", "iir/heartbeat/v1/heartbeat.proto", "iir/inference/v1/inference.proto", "iir/registry/v1/registry.proto"], "IIR's own protos only");
  const inference = requests.flatMap((request) => request.protoFile).find((file) => file.name === "iir/inference/v1/inference.proto");
  const goPackage = inference?.options?.goPackage ?? "";
  t.is(goPackage, "example.com/iir-go-client/gen/iir/inference/v1;inferencev1");
  const main = fs.readFileSync(path.join(root, "examples", "go", "main.go"), "utf8");
  const importPath = goPackage.split(";")[0] ?? "";
  t.true(main.includes(`inferencev1 "${importPath}"`), "main.go imports the generated messages");
  t.true(main.includes(`"${importPath}/inferencev1connect"`), "main.go imports the generated Connect client");
  t.regex(fs.readFileSync(path.join(root, "examples", "go", "go.mod"), "utf8"), /^module example\.com\/iir-go-client$/m);
});

