import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import test, { type ExecutionContext } from "ava";
import { Copy, DockerfileParser, JSONInstruction, type Instruction } from "dockerfile-ast";
import { parse as parseYaml } from "yaml";
import { variablesReadByConfig } from "./support/config-variables.js";
import { temporaryDirectory } from "./support/process-fixtures.js";

// The container files as a user meets them: the image (Dockerfile, .dockerignore), the dev stack
// (compose.yml, deploy/), and .env.example, which must name everything IIR and the stack read.

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const read = (file: string) => fs.readFileSync(path.join(root, file), "utf8");

/** The Dockerfile's stages: each FROM and the instructions after it. */
function stages(): Array<{ name: string | null; image: string; tag: string; instructions: Instruction[] }> {
  const dockerfile = DockerfileParser.parse(read("Dockerfile"));
  const result: ReturnType<typeof stages> = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === "FROM") {
      const from = dockerfile.getFROMs().find((candidate) => candidate.getRange().start.line === instruction.getRange().start.line)!;
      result.push({ name: from.getBuildStage(), image: from.getImageName() ?? "", tag: from.getImageTag() ?? "", instructions: [] });
    } else {
      result.at(-1)?.instructions.push(instruction);
    }
  }
  return result;
}

const words = (instruction: Instruction) => instruction.getArguments().map((argument) => argument.getValue()).join(" ");
const jsonStrings = (instruction: Instruction) => (instruction as JSONInstruction).getJSONStrings().map((argument) => argument.getJSONValue());
const runs = (instructions: Instruction[]) => instructions.filter((instruction) => instruction.getKeyword() === "RUN").map(words);

test("Dockerfile: a build stage and a runtime stage, both on the official Node 20 slim image", (t) => {
  const all = stages();
  t.true(all.length >= 2, "multi-stage");
  for (const stage of all) {
    t.is(stage.image, "node", `stage ${stage.name}`);
    t.regex(stage.tag, /^20([.-].*)?-slim$/, `stage ${stage.name} is node:20…-slim`);
  }
  const build = all.find((stage) => runs(stage.instructions).some((command) => command.includes("npm run build")));
  t.truthy(build, "a stage compiles with npm run build");
  t.true(runs(build!.instructions).some((command) => /\bnpm ci\b/.test(command)), "from the lock file (npm ci)");
});

test("Dockerfile: the runtime stage installs production dependencies only, runs as a non-root user under tini, and checks /ready", (t) => {
  const runtime = stages().at(-1)!;
  const keyword = (name: string) => runtime.instructions.filter((instruction) => instruction.getKeyword() === name);

  t.true(runs(runtime.instructions).some((command) => /\bnpm ci\b.*--omit=dev/.test(command)), "npm ci --omit=dev");
  t.true(runs(runtime.instructions).some((command) => /apt-get install.*\btini\b/.test(command)), "tini is installed");

  const user = keyword("USER").at(-1);
  t.truthy(user, "a USER instruction");
  const name = words(user!).split(":")[0];
  t.not(name, "root");
  t.not(name, "0");

  const entrypoint = jsonStrings(keyword("ENTRYPOINT").at(-1)!);
  t.is(entrypoint[0], "tini", "tini is PID 1 and forwards SIGTERM");
  t.is(entrypoint[1], "--");
  t.true(entrypoint.includes("bin/iir.js"));
  t.deepEqual(jsonStrings(keyword("CMD").at(-1)!), ["all"], "the default role is iir all");

  const healthcheck = keyword("HEALTHCHECK").at(-1);
  t.truthy(healthcheck, "a HEALTHCHECK");
  t.regex(healthcheck!.getRawArgumentsContent() ?? "", /\/ready/);
  t.true(keyword("EXPOSE").some((expose) => words(expose).split(" ").includes("8000")), "the facade's port is exposed");
});

test("Dockerfile: bin/iir.js finds dist/ fresh in the image (sources copied before dist/, whose entry is touched last)", (t) => {
  const runtime = stages().at(-1)!.instructions;
  const copyIndex = (folder: string) =>
    runtime.findIndex((instruction) => instruction instanceof Copy && words(instruction).split(" ")[0]!.replace(/^\/app\//, "") === folder);
  const dist = copyIndex("dist");
  t.true(dist >= 0, "dist/ is copied into the runtime stage");
  // bin/iir.js compares dist/cli/main.js with every .ts under these folders, which must exist.
  for (const folder of ["cli", "services", "facade", "gen"]) {
    const index = copyIndex(folder);
    t.true(index >= 0 && index < dist, `${folder}/ is copied before dist/`);
  }
  const touch = runtime.findIndex((instruction) => instruction.getKeyword() === "RUN" && words(instruction).includes("touch dist/cli/main.js"));
  t.true(touch > dist, "dist/cli/main.js is made the newest file after every copy");
  const bin = read("bin/iir.js");
  t.regex(bin, /"dist", "cli", "main\.js"/, "bin/iir.js still keys freshness on dist/cli/main.js");
});

test(".dockerignore keeps dependencies, builds, data and secrets out of the build context, and nothing the Dockerfile copies", (t) => {
  const patterns = read(".dockerignore").split("\n").map((line) => line.trim()).filter((line) => line !== "" && !line.startsWith("#"));
  for (const required of ["node_modules", "data", "dist", ".git", ".env", "*.gguf", "bench/results"]) t.true(patterns.includes(required), required);
  const copied = stages()
    .flatMap((stage) => stage.instructions)
    .filter((instruction): instruction is Copy => instruction instanceof Copy && instruction.getFromFlag() === null)
    .flatMap((instruction) => words(instruction).split(" ").slice(0, -1));
  t.true(copied.length > 0);
  for (const source of copied) t.false(patterns.includes(source), `${source} is copied from the context but ignored`);
});

/** `.env.example`'s variables, with their values and the comment line above each. */
function envExample(): Map<string, { value: string; comment: string | undefined }> {
  const lines = read(".env.example").split("\n");
  const entries = new Map<string, { value: string; comment: string | undefined }>();
  lines.forEach((line, index) => {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (match === null) return;
    const above = lines[index - 1]?.trim();
    entries.set(match[1]!, { value: match[2]!, comment: above?.startsWith("#") ? above : undefined });
  });
  return entries;
}

const composeText = () => read("compose.yml");
// Compose interpolates values, not comments.
const composeWithoutComments = () => composeText().split("\n").filter((line) => !line.trimStart().startsWith("#")).join("\n");
const composeVariables = () => new Set([...composeWithoutComments().matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}/g)].map((match) => match[1]!));
interface ComposeFile {
  services: Record<string, { image?: string; healthcheck?: unknown; volumes?: string[]; ports?: string[]; environment?: Record<string, string> }>;
  volumes?: Record<string, unknown>;
}
const compose = () => parseYaml(composeText(), { merge: true }) as ComposeFile;

test(".env.example documents every variable IIR reads and every ${VARIABLE} of compose.yml, one comment line each, secrets empty", (t) => {
  const documented = envExample();
  const iir = variablesReadByConfig();
  t.true(iir.size > 50 && iir.has("IIR_FACADE_PORT") && iir.has("EXTERNAL_OPENAI_KEY"), "the recording environment saw the reads");
  for (const name of iir) t.true(documented.has(name), `${name} (read by services/common/config.ts) is in .env.example`);
  const fromCompose = composeVariables();
  t.true(fromCompose.has("POSTGRES_PASSWORD"));
  for (const name of fromCompose) t.true(documented.has(name), `\${${name}} (compose.yml) is in .env.example`);
  for (const [name, { value, comment }] of documented) {
    t.truthy(comment, `${name} has a comment line above it`);
    if (/(KEY|TOKEN|PASSWORD|SECRET)$/.test(name)) t.is(value, "", `${name} is a secret: empty in .env.example`);
  }
});

test("compose.yml: the split roles and their services, healthchecks, and nothing that outlives `down -v`", (t) => {
  const file = compose();
  const services = file.services;
  for (const name of ["facade", "router", "agent", "redis", "postgres", "prometheus", "collector"]) t.truthy(services[name], `service ${name}`);
  const iirImage = services.router!.image;
  t.truthy(iirImage);
  for (const role of ["facade", "agent"]) t.is(services[role]!.image, iirImage, `${role} runs the router's image: one image for every role`);
  for (const name of ["router", "agent", "redis", "postgres", "prometheus"]) t.truthy(services[name]!.healthcheck, `${name} has a healthcheck`);
  t.regex(services.router!.environment?.DATABASE_URL ?? "", /^postgres:\/\/.*@postgres:5432\//, "the router's registry is the postgres service");
  t.regex(services.router!.environment?.REDIS_URL ?? "", /^redis:\/\/redis:6379/);
  t.regex(services.facade!.environment?.OTEL_EXPORTER_OTLP_ENDPOINT ?? "", /^http:\/\/collector:4318/);

  const declared = new Set(Object.keys(file.volumes ?? {}));
  t.true(declared.has("registry") && declared.has("models"), "named volumes for the registry and the models");
  for (const [name, service] of Object.entries(services)) {
    for (const mount of service.volumes ?? []) {
      const [source, , mode] = mount.split(":");
      if (declared.has(source!)) continue;
      // The only host paths: configuration files of this checkout, read-only.
      t.true(source!.startsWith("./deploy/") && mode === "ro", `${name}: ${mount} is a named volume or a read-only config file`);
    }
  }
  const prometheus = fs.readFileSync(path.join(root, "deploy/prometheus/prometheus.yml"), "utf8");
  t.regex(prometheus, /facade:8000/);
  t.regex(prometheus, new RegExp(`router:${services.router!.environment?.IIR_ROUTER_METRICS_PORT ?? "none"}`), "Prometheus scrapes the router's metrics port");
});

/** `docker-compose`, or `docker compose`, when one is installed here. */
function composeCommand(): string[] | undefined {
  for (const command of [["docker-compose"], ["docker", "compose"]]) {
    const probe = spawnSync(command[0]!, [...command.slice(1), "version"], { encoding: "utf8" });
    if (probe.error === undefined && probe.status === 0) return command;
  }
  return undefined;
}

function requireCompose(t: ExecutionContext): string[] | undefined {
  const command = composeCommand();
  if (command !== undefined) return command;
  const message = "neither docker-compose nor docker compose is installed";
  if (process.env.CI_REQUIRE_SERVICES === "1") {
    t.fail(`${message} (CI_REQUIRE_SERVICES=1)`);
    return undefined;
  }
  console.error(`\n!!! SKIPPING "${t.title}": ${message}. Install docker-compose to run it.\n`);
  t.pass();
  return undefined;
}

test("docker compose config accepts compose.yml with .env.example as .env, once its required secrets are filled in", (t) => {
  const command = requireCompose(t);
  if (command === undefined) return;
  const directory = temporaryDirectory(t);
  const config = (envFile: string) =>
    spawnSync(command[0]!, [...command.slice(1), "--project-directory", root, "-f", path.join(root, "compose.yml"), "--env-file", envFile, "config", "-q"], {
      encoding: "utf8",
      // Only the env file: variables of this shell would win over it.
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
    });

  const pristine = path.join(directory, "pristine.env");
  fs.copyFileSync(path.join(root, ".env.example"), pristine);
  const refused = config(pristine);
  t.not(refused.status, 0, "no default passwords: the stack refuses to start without them");
  t.regex(refused.stderr, /POSTGRES_PASSWORD|IIR_AGENT_TOKEN/);

  const filled = path.join(directory, ".env");
  fs.writeFileSync(filled, read(".env.example").replace(/^POSTGRES_PASSWORD=$/m, "POSTGRES_PASSWORD=compose0test").replace(/^IIR_AGENT_TOKEN=$/m, "IIR_AGENT_TOKEN=compose-test-token"));
  const accepted = config(filled);
  t.is(accepted.status, 0, accepted.stderr);
});
