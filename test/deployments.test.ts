import fs from "node:fs/promises";
import path from "node:path";
import test, { type ExecutionContext } from "ava";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ModelSchema } from "../gen/iir/registry/v1/registry_pb.js";
import { runModelsCommand, runSeedCommand, UsageError } from "../cli/commands/models.js";
import { openRegistry } from "../services/router/registry/database.js";
import { migrateToLatest } from "../services/router/registry/migrations/index.js";
import { getModel, listModels, upsertModel } from "../services/router/registry/models.repository.js";
import { adminRegistry } from "./support/admin.js";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { startMesh, type TestMesh } from "./support/mesh.js";
import { freshPostgresSchema, requirePostgres } from "./support/postgres-fixtures.js";
import { createMigratedRegistry, createTempDirectory } from "./registry-fixtures.js";

// Several deployments of one registry model, chosen by its strategy, end to end through router and facade.

interface Setup {
  readonly mesh: TestMesh;
  readonly first: FakeUpstream;
  readonly second: FakeUpstream;
}

/** A mesh and two fake OpenAI upstreams; `gpt-4o` is deployed on both ("east" listed first, then "west"). */
async function setUp(t: ExecutionContext, strategy: string, options: { firstDelayMs?: number; weights?: [number, number] } = {}): Promise<Setup> {
  const first = await startFakeUpstream(options.firstDelayMs === undefined ? {} : { defaultScenario: { kind: "answer", headersDelayMs: options.firstDelayMs } });
  const second = await startFakeUpstream();
  // Breakers open only after more failures than a test here causes: the order shown is the strategy's.
  const mesh = await startMesh({ EXTERNAL_EAST_KEY: "sk-east", EXTERNAL_WEST_KEY: "sk-west", IIR_BREAKER_FAILURES: "5" });
  t.teardown(async () => {
    await mesh.close();
    await first.close();
    await second.close();
  });
  const [eastWeight, westWeight] = options.weights ?? [0, 0];
  await adminRegistry(mesh.routerUrl).upsertModel({
    model: {
      name: "gpt-4o",
      provider: "openai",
      enabled: true,
      strategy,
      deployments: [
        { name: "east", provider: "openai", upstreamModel: "gpt-4o-east", baseUrl: first.baseUrl, apiKeyEnv: "EXTERNAL_EAST_KEY", weight: eastWeight },
        { name: "west", provider: "openai", upstreamModel: "gpt-4o-west", baseUrl: second.baseUrl, apiKeyEnv: "EXTERNAL_WEST_KEY", weight: westWeight },
      ],
    },
  });
  return { mesh, first, second };
}

async function chat(mesh: TestMesh): Promise<{ status: number; backend: string | null; body: string }> {
  const response = await fetch(`${mesh.facadeUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hello there" }] }),
  });
  return { status: response.status, backend: response.headers.get("x-iir-backend"), body: await response.text() };
}

function chatRequests(upstream: FakeUpstream): number {
  return upstream.requests.filter((request) => request.path.startsWith("/v1/chat/completions")).length;
}

test("weighted spreads requests by weight over both deployments, each with its own key and upstream model", async (t) => {
  const { mesh, first, second } = await setUp(t, "weighted", { weights: [1, 3] });
  const backends = new Map<string, number>();
  for (let index = 0; index < 60; index++) {
    const answer = await chat(mesh);
    t.is(answer.status, 200, answer.body);
    backends.set(answer.backend ?? "", (backends.get(answer.backend ?? "") ?? 0) + 1);
  }
  t.deepEqual([...backends.keys()].sort(), ["east", "west"], "x-iir-backend names the deployment");
  t.true(chatRequests(first) > 0 && chatRequests(second) > 0, "both deployments got traffic");
  t.true(chatRequests(second) > chatRequests(first), `weight 3 got more than weight 1: west ${chatRequests(second)}, east ${chatRequests(first)}`);
  t.is(chatRequests(first) + chatRequests(second), 60);
  t.is(first.lastRequest().headers.authorization, "Bearer sk-east");
  t.is(first.lastRequest().body.model, "gpt-4o-east");
  t.is(second.lastRequest().headers.authorization, "Bearer sk-west");
  t.is(second.lastRequest().body.model, "gpt-4o-west");
});

test("ordered sends everything to the first deployment while it answers, and to the next when it fails before the first byte", async (t) => {
  const { mesh, first, second } = await setUp(t, "ordered");
  for (let index = 0; index < 5; index++) t.is((await chat(mesh)).backend, "east");
  t.is(chatRequests(first), 5);
  t.is(chatRequests(second), 0);

  first.script({ kind: "error", status: 500 }, { kind: "error", status: 500 });
  for (let index = 0; index < 2; index++) {
    const answer = await chat(mesh);
    t.is(answer.status, 200, "the client never sees the first deployment's 500");
    t.is(answer.backend, "west");
  }
  t.is(chatRequests(second), 2);
  t.is((await chat(mesh)).backend, "east", "the first deployment answers again: it is first again");
});

test("lowest-latency measures each deployment once, then prefers the faster one", async (t) => {
  const { mesh, first, second } = await setUp(t, "lowest-latency", { firstDelayMs: 300 });
  for (let index = 0; index < 12; index++) t.is((await chat(mesh)).status, 200);
  t.true(chatRequests(first) >= 1, "the slow deployment was measured");
  t.true(chatRequests(second) > 3 * chatRequests(first), `the fast one got most: west ${chatRequests(second)}, east ${chatRequests(first)}`);
});

test("the breaker metric tells deployments apart", async (t) => {
  const { mesh, first } = await setUp(t, "ordered");
  first.script({ kind: "error", status: 500 });
  t.is((await chat(mesh)).status, 200);
  const metrics = await (await fetch(mesh.metricsUrl)).text();
  t.regex(metrics, new RegExp(`iir_breaker_state\\{backend="openai:gpt-4o-east@http://127\\.0\\.0\\.1:${first.port}/v1#east"\\} \\d`), "the failing deployment is tracked under its own name");
});

test("UpsertModel refuses bad deployments, strategies, timeouts and capabilities with InvalidArgument naming each", async (t) => {
  const mesh = await startMesh();
  t.teardown(() => mesh.close());
  const registry = adminRegistry(mesh.routerUrl);
  const refused = await registry
    .upsertModel({
      model: {
        name: "bad",
        provider: "openai",
        strategy: "fastest",
        ttftTimeoutMs: -1,
        capabilities: ["tools", "video", "tools"],
        deployments: [
          { provider: "", name: "a" },
          { provider: "openai", name: "a", apiKeyEnv: "AWS_SECRET_ACCESS_KEY", weight: -2 },
        ],
      },
    })
    .then(() => undefined, (error: unknown) => ConnectError.from(error));
  t.is(refused?.code, Code.InvalidArgument);
  for (const expected of [
    /strategy must be one of ordered, weighted, least-busy, lowest-latency/,
    /deployments\[0\]\.provider must not be empty/,
    /deployments\[1\]\.api_key_env must name an EXTERNAL_\*/,
    /deployments\[1\]\.weight must be an integer >= 0/,
    /deployments\[1\]\.name "a" is also the name of deployments\[0\]/,
    /ttft_timeout_ms must be an integer >= 0/,
    /capabilities\[1\] must be one of tools, images, json_schema, reasoning, got "video"/,
    /capabilities\[2\] repeats "tools"/,
  ]) {
    t.regex(refused?.rawMessage ?? "", expected);
  }
  t.is((await registry.listModels({})).models.length, 0, "nothing was stored");
});

// The CLI and the YAML seed.

function createOutput() {
  const lines: string[] = [];
  return { lines, log: (line: string) => void lines.push(line), text: () => lines.join("\n") };
}

test("iir models add/update/show take deployments, strategy, TTFT timeout and capabilities; list --json seeds them back", async (t) => {
  const { db } = await createMigratedRegistry(t);
  const output = createOutput();
  const run = (...args: string[]) => runModelsCommand(args, db, output);
  await run("add", "gpt-4o", "--provider", "openai",
    "--deployment", "provider=azure,model=gpt-4o,base-url=https://east.example.com/openai,key-env=EXTERNAL_AZURE_KEY,weight=2,name=azure-east",
    "--deployment", "provider=openai,model=gpt-4o-2024-08-06",
    "--strategy", "weighted", "--ttft-timeout", "30s", "--capability", "tools", "--capability", "json_schema");
  const added = await getModel(db, "gpt-4o");
  t.is(added?.strategy, "weighted");
  t.is(added?.ttftTimeoutMs, 30_000);
  t.deepEqual(added?.capabilities, ["tools", "json_schema"]);
  t.deepEqual(added?.deployments.map((deployment) => ({ ...deployment, $typeName: undefined })), [
    { $typeName: undefined, name: "azure-east", provider: "azure", upstreamModel: "gpt-4o", baseUrl: "https://east.example.com/openai", apiKeyEnv: "EXTERNAL_AZURE_KEY", weight: 2 },
    { $typeName: undefined, name: "", provider: "openai", upstreamModel: "gpt-4o-2024-08-06", baseUrl: "", apiKeyEnv: "", weight: 0 },
  ]);

  output.lines.length = 0;
  await run("show", "gpt-4o");
  t.regex(output.text(), /strategy:\s+weighted/);
  t.regex(output.text(), /ttft timeout:\s+30000 ms/);
  t.regex(output.text(), /1\. azure-east: provider=azure model=gpt-4o base-url=https:\/\/east\.example\.com\/openai key-env=EXTERNAL_AZURE_KEY weight=2/);
  t.regex(output.text(), /2\. openai\/gpt-4o-2024-08-06: provider=openai/);
  output.lines.length = 0;
  await run("list");
  t.regex(output.lines[1] ?? "", /azure-east,openai\/gpt-4o-2024-08-06 \(weighted\)\s+tools,json_schema/);

  await run("update", "gpt-4o", "--strategy", "lowest-latency", "--ttft-timeout", "1500", "--capability", "");
  const updated = await getModel(db, "gpt-4o");
  t.like(updated, { strategy: "lowest-latency", ttftTimeoutMs: 1500 });
  t.deepEqual(updated?.capabilities, []);
  t.is(updated?.deployments.length, 2, "deployments not given stay");

  // What list --json prints seeds another registry to the same models.
  output.lines.length = 0;
  await run("list", "--json");
  const file = path.join(await createTempDirectory(t), "models.json");
  await fs.writeFile(file, output.text());
  const other = await createMigratedRegistry(t);
  await runSeedCommand([file], other.db, createOutput());
  const copied = await getModel(other.db, "gpt-4o");
  t.deepEqual(copied?.deployments, updated?.deployments);
  t.like(copied, { strategy: "lowest-latency", ttftTimeoutMs: 1500 });

  await run("update", "gpt-4o", "--deployment", "");
  t.is((await getModel(db, "gpt-4o"))?.deployments.length, 0, "--deployment '' clears the list");
});

test("bad --deployment, --strategy, --ttft-timeout and --capability values are UsageErrors naming each, and nothing is written", async (t) => {
  const { db } = await createMigratedRegistry(t);
  const error = await t.throwsAsync(
    runModelsCommand(
      ["add", "gpt-4o", "--provider", "openai", "--deployment", "model=x,colour=red,weight=heavy", "--strategy", "fastest", "--ttft-timeout", "soon", "--capability", "video"],
      db,
      createOutput(),
    ),
    { instanceOf: UsageError },
  );
  t.regex(error?.message ?? "", /--deployment #1: unknown key "colour"/);
  t.regex(error?.message ?? "", /--deployment #1: weight must be an integer >= 0, got "heavy"/);
  t.regex(error?.message ?? "", /--deployment #1: provider=… is required/);
  t.regex(error?.message ?? "", /--ttft-timeout must be milliseconds \(1500\) or seconds \(30s\), got "soon"/);
  t.deepEqual(await listModels(db), []);
  // With the flag-level problems fixed, the registry's own rules speak.
  const second = await t.throwsAsync(
    runModelsCommand(["add", "gpt-4o", "--provider", "openai", "--strategy", "fastest", "--capability", "video"], db, createOutput()),
    { instanceOf: UsageError },
  );
  t.regex(second?.message ?? "", /strategy must be one of/);
  t.regex(second?.message ?? "", /capabilities\[0\] must be one of/);
});

test("the YAML seed reads deployments, strategy, ttft_timeout_ms, capabilities and auto, and reports bad ones by index", async (t) => {
  const { db } = await createMigratedRegistry(t);
  const directory = await createTempDirectory(t);
  const good = path.join(directory, "good.yaml");
  await fs.writeFile(good, `models:
  - name: gpt-4o
    provider: openai
    strategy: least-busy
    ttft_timeout_ms: 20000
    capabilities: [tools, images]
    deployments:
      - provider: azure
        name: azure-east
        upstream_model: gpt-4o
        base_url: https://east.example.com/openai
        api_key_env: EXTERNAL_AZURE_KEY
        weight: 2
      - provider: local
        upstream_model: iir-tiny
  - name: auto-cheap
    provider: auto
    auto:
      candidates: [gpt-4o]
      cost_weight: 0.7
      latency_weight: 0.3
      cost_threshold: 0.01
`);
  await runSeedCommand([good], db, createOutput());
  const model = await getModel(db, "gpt-4o");
  t.like(model, { strategy: "least-busy", ttftTimeoutMs: 20_000 });
  t.deepEqual(model?.capabilities, ["tools", "images"]);
  t.deepEqual(model?.deployments.map((deployment) => [deployment.name, deployment.provider, deployment.upstreamModel, deployment.weight]), [
    ["azure-east", "azure", "gpt-4o", 2],
    ["", "local", "iir-tiny", 0],
  ]);
  const router = await getModel(db, "auto-cheap");
  t.deepEqual(router?.auto?.candidates, ["gpt-4o"]);
  t.like(router?.auto, { costWeight: 0.7, latencyWeight: 0.3, costThreshold: 0.01 });

  const bad = path.join(directory, "bad.yaml");
  await fs.writeFile(bad, `models:
  - name: broken
    provider: openai
    strategy: fastest
    capabilities: [telepathy]
    deployments:
      - provider: openai
        colour: red
      - base_url: https://x.example.com/v1
        weight: -1
    auto:
      cost_weight: lots
`);
  const error = await t.throwsAsync(runSeedCommand([bad], db, createOutput()));
  for (const expected of [
    /models\[0\]\.strategy must be one of/,
    /models\[0\]\.capabilities\[0\] must be one of/,
    /models\[0\]\.deployments\[0\]\.colour is not a known field/,
    /models\[0\]\.deployments\[1\]\.provider must not be empty/,
    /models\[0\]\.deployments\[1\]\.weight must be an integer >= 0/,
    /models\[0\]\.auto: /,
  ]) {
    t.regex(error?.message ?? "", expected);
  }
  t.is(await getModel(db, "broken"), undefined, "nothing was written");
});

// Storage on Postgres, as router replicas share it.

test("Postgres stores and reads back deployments, strategy, ttft_timeout_ms, capabilities and auto", async (t) => {
  if (!(await requirePostgres(t))) return;
  const { url } = await freshPostgresSchema(t);
  const db = openRegistry({ databaseUrl: url, sqliteDbPath: "unused.db" });
  t.teardown(() => db.destroy());
  await migrateToLatest(db);
  const fields: MessageInitShape<typeof ModelSchema> = {
    name: "gpt-4o",
    provider: "openai",
    enabled: true,
    strategy: "weighted",
    ttftTimeoutMs: 12_000,
    capabilities: ["tools", "reasoning"],
    deployments: [
      { name: "azure-east", provider: "azure", upstreamModel: "gpt-4o", baseUrl: "https://east.example.com/openai", apiKeyEnv: "EXTERNAL_AZURE_KEY", weight: 3 },
      { provider: "openai" },
    ],
    auto: { candidates: ["gpt-4o", "local-tiny"], costWeight: 0.5, latencyWeight: 0.25, costThreshold: 0.02 },
  };
  const stored = await upsertModel(db, create(ModelSchema, fields), 1_796_000_000_000);
  const read = await getModel(db, "gpt-4o");
  t.deepEqual(read, stored);
  t.like(read, { strategy: "weighted", ttftTimeoutMs: 12_000 });
  t.deepEqual(read?.capabilities, ["tools", "reasoning"]);
  t.deepEqual(read?.deployments.map((deployment) => [deployment.name, deployment.provider, deployment.apiKeyEnv, deployment.weight]), [
    ["azure-east", "azure", "EXTERNAL_AZURE_KEY", 3],
    ["", "openai", "", 0],
  ]);
  t.deepEqual(read?.auto?.candidates, ["gpt-4o", "local-tiny"]);
  t.like(read?.auto, { costWeight: 0.5, latencyWeight: 0.25, costThreshold: 0.02 });

  // A model written without them reads back with the defaults; clearing `auto` stores null.
  await upsertModel(db, create(ModelSchema, { ...fields, auto: undefined, deployments: [], capabilities: [] }), 1_796_000_000_001);
  const cleared = await getModel(db, "gpt-4o");
  t.is(cleared?.auto, undefined);
  t.deepEqual(cleared?.deployments, []);
  const plain = await upsertModel(db, create(ModelSchema, { name: "plain", provider: "openai" }));
  t.like(plain, { strategy: "", ttftTimeoutMs: 0, auto: undefined });
});
