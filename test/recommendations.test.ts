import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import test from "ava";
import { AgentControlService } from "../gen/iir/agent/v1/agent_control_pb.js";
import type { RunningAgent } from "../services/agent/server.js";
import { adminHeaders, adminRegistry, testAdminToken } from "./support/admin.js";
import { startTestAgent } from "./support/agent-fixtures.js";
import { startMesh, type TestMesh } from "./support/mesh.js";
import { temporaryDirectory } from "./support/process-fixtures.js";
import { modelShapes, writeSizedModel } from "./support/sized-models.js";

// Two agents share one models directory with three files of clearly different sizes; they differ
// only in the memory they report (IIR_AGENT_MEMORY_LIMIT). With the default 15% headroom the small
// agent has 85 MiB, the big one 870 MiB. node-llama-cpp estimates (weights + one context) roughly:
// small ≈ 22 MiB at 2048 tokens, medium ≈ 39/67/123 MiB at 2048/4096/8192, big ≈ 134 MiB at 2048
// and ≈ 500 MiB at 16384. Assertions are on what fits, never on byte counts.

interface StatusJson {
  last_refresh_at: string | null;
  agents: Array<{
    id: string;
    models: string[];
    hardware: { memory_bytes: number; total_memory_bytes: number; cpu_cores: number };
    model_files: Array<{ file_name: string; architecture: string; parameter_count: number; context_length: number }>;
    recommendations: Array<{ file_name: string; fits: boolean; max_context_size: number; rank: number; recommended: boolean; loaded: boolean }>;
  }>;
}

const MiB = 1024 ** 2;
const iirBinary = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "bin", "iir.js");

/** Runs the `iir` command as a user would and answers its exit code and output (JSON spans several lines). */
async function runIir(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [iirBinary, ...args], { env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env }, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === "number" ? failed.code : 1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? String(error) };
  }
}

async function fetchJson(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, init);
  return { status: response.status, body: await response.json() };
}

function agentOf(status: StatusJson, id: string) {
  const agent = status.agents.find((entry) => entry.id === id);
  if (agent === undefined) throw new Error(`agent ${id} missing from ${JSON.stringify(status.agents.map((entry) => entry.id))}`);
  return agent;
}

function recommendationOf(status: StatusJson, agentId: string, fileName: string) {
  const found = agentOf(status, agentId).recommendations.find((entry) => entry.file_name === fileName);
  if (found === undefined) throw new Error(`${fileName} missing for ${agentId}`);
  return found;
}

test("recommends model files by each agent's memory; refresh finds new files; loads only names inside the directory", async (t) => {
  t.timeout(240_000);
  const directory = temporaryDirectory(t, "iir-models-dir-");
  await writeSizedModel(directory, "small.gguf", modelShapes.small);
  await writeSizedModel(directory, "medium.gguf", modelShapes.medium);
  await writeSizedModel(directory, "big.gguf", modelShapes.big);
  const mesh: TestMesh = await startMesh();
  const agents: RunningAgent[] = [];
  t.teardown(async () => {
    for (const agent of agents) await agent.close(1000);
    await mesh.close();
  });
  agents.push(await startTestAgent(mesh.routerUrl, { IIR_AGENT_ID: "small-agent", IIR_AGENT_MODELS_DIR: directory, IIR_AGENT_MEMORY_LIMIT: "100MiB" }));
  agents.push(await startTestAgent(mesh.routerUrl, { IIR_AGENT_ID: "big-agent", IIR_AGENT_MODELS_DIR: directory, IIR_AGENT_MEMORY_LIMIT: "1GiB" }));
  const facade = mesh.facadeUrl.replace(/\/v1$/, "");

  // The catalog arrived with the registrations: no refresh needed to see it.
  const first = await fetchJson(`${facade}/v1/registry/status`, { headers: adminHeaders });
  t.is(first.status, 200);
  const status = first.body as StatusJson;
  t.is(agentOf(status, "small-agent").hardware.memory_bytes, 100 * MiB);
  t.true(agentOf(status, "small-agent").hardware.total_memory_bytes > 100 * MiB, "the machine's own memory travels beside the cap");
  t.deepEqual(agentOf(status, "big-agent").model_files.map((file) => file.file_name), ["big.gguf", "medium.gguf", "small.gguf"]);
  t.true(agentOf(status, "big-agent").model_files.every((file) => file.architecture === "llama" && file.parameter_count > 0));

  // The big file fits only the big agent, and is its top pick.
  t.false(recommendationOf(status, "small-agent", "big.gguf").fits);
  t.true(recommendationOf(status, "big-agent", "big.gguf").fits);
  t.true(recommendationOf(status, "big-agent", "big.gguf").recommended);
  // The medium file fits both, as the small agent's top pick, with a longer context on the big agent.
  const mediumOnSmall = recommendationOf(status, "small-agent", "medium.gguf");
  const mediumOnBig = recommendationOf(status, "big-agent", "medium.gguf");
  t.true(mediumOnSmall.fits && mediumOnBig.fits);
  t.true(mediumOnSmall.recommended);
  t.false(mediumOnBig.recommended);
  t.true(mediumOnSmall.max_context_size < mediumOnBig.max_context_size);
  t.is(mediumOnBig.max_context_size, modelShapes.medium.contextLength, "the big agent can use the medium model's whole training context");
  // The small file fits both, ranked below the medium one.
  t.true(recommendationOf(status, "small-agent", "small.gguf").rank > mediumOnSmall.rank);
  t.is(agentOf(status, "small-agent").recommendations.filter((entry) => entry.recommended).length, 1);

  // The same over gRPC.
  const registry = adminRegistry(mesh.routerUrl);
  const grpcStatus = (await registry.getRegistryStatus({})).status!;
  const grpcSmall = grpcStatus.agents.find((entry) => entry.agent?.id === "small-agent")!;
  t.deepEqual(
    grpcSmall.recommendations.filter((entry) => entry.fits).map((entry) => entry.fileName),
    ["medium.gguf", "small.gguf"],
  );
  t.is(grpcSmall.budgetKind, "ram");

  // And from the CLI, as JSON, against the running router.
  const cli = await runIir(["models", "recommend", "--json"], { IIR_ROUTER_URL: mesh.routerUrl, IIR_ADMIN_TOKEN: testAdminToken, LOG_LEVEL: "silent" });
  t.is(cli.code, 0, cli.stderr);
  const cliStatus = JSON.parse(cli.stdout) as StatusJson;
  t.true(recommendationOf(cliStatus, "big-agent", "big.gguf").recommended);
  t.false(recommendationOf(cliStatus, "small-agent", "big.gguf").fits);
  const table = await runIir(["models", "recommend"], { IIR_ROUTER_URL: mesh.routerUrl, IIR_ADMIN_TOKEN: testAdminToken, LOG_LEVEL: "silent" });
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /^AGENT\s+MODEL FILE\s+PARAMS\s+QUANT\s+SIZE\s+FITS\s+MAX CONTEXT\s+RECOMMENDED/m);
  t.regex(table.stdout, /big-agent\s+big\.gguf\s+.*\byes\s+\d+\s+yes/);
  t.regex(table.stdout, /small-agent\s+big\.gguf\s+.*\bno\s+-/);

  // A new file shows up after a refresh.
  await writeSizedModel(directory, "extra.gguf", modelShapes.small);
  const refreshed = await fetchJson(`${facade}/v1/registry/refresh`, { method: "POST", headers: adminHeaders });
  t.is(refreshed.status, 200);
  const after = refreshed.body as StatusJson;
  t.true(recommendationOf(after, "small-agent", "extra.gguf").fits);
  t.true(recommendationOf(after, "big-agent", "extra.gguf").fits);
  t.not(after.last_refresh_at, null);

  // Admin only: no token is a 401 in OpenAI's error shape.
  for (const [method, path] of [["POST", "refresh"], ["GET", "status"]] as const) {
    const refused = await fetchJson(`${facade}/v1/registry/${path}`, { method });
    t.is(refused.status, 401, path);
    const error = (refused.body as { error?: { message?: unknown; type?: unknown } }).error;
    t.is(typeof error?.message, "string");
    t.is(typeof error?.type, "string");
  }

  // Loading: names outside the directory are refused, by the router and by the agent itself.
  const outside = await t.throwsAsync(registry.loadAgentModel({ agentId: "small-agent", fileName: "../small.gguf" }));
  t.regex(outside!.message, /invalid_argument/);
  const control = createClient(AgentControlService, createGrpcTransport({ baseUrl: agents[0]!.address }));
  const direct = await t.throwsAsync(control.loadModel({ fileName: "/etc/hostname" }));
  t.regex(direct!.message, /invalid_argument/);
  const absent = await t.throwsAsync(registry.loadAgentModel({ agentId: "small-agent", fileName: "absent.gguf" }));
  t.regex(absent!.message, /not_found/);
  const negative = await t.throwsAsync(registry.loadAgentModel({ agentId: "small-agent", fileName: "medium.gguf", contextSize: -1 }));
  t.regex(negative!.message, /invalid_argument.*context_size/);

  // Loading the small agent's top pick: it re-registers under the new id and the router routes to it.
  const loaded = await registry.loadAgentModel({ agentId: "small-agent", fileName: "medium.gguf", contextSize: 512 });
  t.is(loaded.modelId, "local/medium");
  t.is(agents[0]!.modelId, "local/medium");
  const afterLoad = (await fetchJson(`${facade}/v1/registry/status`, { headers: adminHeaders })).body as StatusJson;
  t.deepEqual(agentOf(afterLoad, "small-agent").models, ["local/medium"]);
  t.true(recommendationOf(afterLoad, "small-agent", "medium.gguf").loaded);
  const chat = await fetch(`${mesh.facadeUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "local/medium", messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
  });
  t.is(chat.status, 200, await chat.clone().text());
  t.is(((await chat.json()) as { model?: string }).model, "local/medium");
});
