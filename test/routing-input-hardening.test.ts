import test from "ava";
import { Code, ConnectError } from "@connectrpc/connect";
import { runModelsCommand } from "../cli/commands/models.js";
import { maxDeployments, maxRouterCandidates } from "../services/router/registry/model-deployments.js";
import { adminRegistry } from "./support/admin.js";
import { startFakeUpstream } from "./support/fake-openai-upstream.js";
import { startMesh } from "./support/mesh.js";
import { createMigratedRegistry } from "./registry-fixtures.js";

// What a careless or hostile admin, client or terminal can do with deployments and routers:
// refused at write with one clear InvalidArgument, never a 5xx later, and no credential shown.

test("UpsertModel refuses routers as deployments, deployments on routers, a router listing itself, and oversized lists, with small messages", async (t) => {
  const mesh = await startMesh();
  t.teardown(() => mesh.close());
  const registry = adminRegistry(mesh.routerUrl);
  const refusal = (model: Parameters<typeof registry.upsertModel>[0]["model"]) =>
    registry.upsertModel({ model }).then(() => undefined, (error: unknown) => ConnectError.from(error));

  const routerDeployment = await refusal({ name: "loop", provider: "openai", enabled: true, deployments: [{ provider: "auto", baseUrl: "http://127.0.0.1:9/v1" }] });
  t.is(routerDeployment?.code, Code.InvalidArgument);
  t.regex(routerDeployment?.rawMessage ?? "", /deployments\[0\]\.provider must name a provider that serves models, not "auto"/);

  const routerWithDeployments = await refusal({ name: "auto-x", provider: "auto", enabled: true, deployments: [{ provider: "openai", baseUrl: "http://127.0.0.1:9/v1" }] });
  t.is(routerWithDeployments?.code, Code.InvalidArgument);
  t.regex(routerWithDeployments?.rawMessage ?? "", /deployments must be empty on a router entry/);

  const selfListed = await refusal({ name: "auto-self", provider: "auto", enabled: true, auto: { candidates: ["gpt-4o", "auto-self"] } });
  t.is(selfListed?.code, Code.InvalidArgument);
  t.regex(selfListed?.rawMessage ?? "", /auto\.candidates\[1\] must not name the router itself/);

  const many = await refusal({ name: "many", provider: "openai", deployments: Array.from({ length: 5000 }, (_, index) => ({ provider: "openai", name: `d${index}`, weight: -1 })) });
  t.is(many?.code, Code.InvalidArgument);
  t.regex(many?.rawMessage ?? "", new RegExp(`deployments lists 5000 deployments: at most ${maxDeployments}`));
  t.true((many?.rawMessage.length ?? Infinity) < 1000, "one problem for the list, not one per deployment");

  const candidates = await refusal({ name: "auto-many", provider: "auto", auto: { candidates: Array.from({ length: maxRouterCandidates + 1 }, (_, index) => `m${index}`) } });
  t.regex(candidates?.rawMessage ?? "", /auto\.candidates lists 257 models: at most 256/);

  const long = await refusal({ name: "long", provider: "openai", strategy: "s".repeat(100_000), deployments: [{ provider: "openai", name: "n".repeat(100_000) }] });
  t.is(long?.code, Code.InvalidArgument);
  t.regex(long?.rawMessage ?? "", /deployments\[0\]\.name is longer than 2048 characters/);
  t.true((long?.rawMessage.length ?? Infinity) < 1000, "long values are not echoed back");

  const capabilities = await refusal({ name: "caps", provider: "openai", capabilities: Array.from({ length: 10_000 }, () => "tools") });
  t.regex(capabilities?.rawMessage ?? "", /capabilities lists 10000 entries: there are only 4/);

  // A provider IIR has no adapter for would be stored, then fail every request with a server error.
  const unknownEntry = await refusal({ name: "typo", provider: "opneai", baseUrl: "http://127.0.0.1:9/v1", enabled: true });
  t.is(unknownEntry?.code, Code.InvalidArgument);
  t.regex(unknownEntry?.rawMessage ?? "", /provider must be one of openai, .*openai-compatible, got "opneai"/);
  const unknownDeployment = await refusal({ name: "typo", provider: "openai", enabled: true, deployments: [{ provider: "nope" }] });
  t.regex(unknownDeployment?.rawMessage ?? "", /deployments\[0\]\.provider must be one of .*, got "nope"/);

  t.is((await registry.listModels({})).models.length, 0, "nothing was stored");
});

test("`auto` whose winner fails before the first byte answers from the runner-up; a router listing another router skips it", async (t) => {
  const failing = await startFakeUpstream({ defaultScenario: { kind: "error", status: 500 } });
  const working = await startFakeUpstream({ defaultScenario: { kind: "answer" } });
  const mesh = await startMesh();
  t.teardown(async () => {
    await mesh.close();
    await failing.close();
    await working.close();
  });
  const registry = adminRegistry(mesh.routerUrl);
  await registry.upsertModel({ model: { name: "cheap", provider: "openai", baseUrl: failing.baseUrl, inputPricePerMillion: 0.1, outputPricePerMillion: 0.4, enabled: true } });
  await registry.upsertModel({ model: { name: "dear", provider: "openai", baseUrl: working.baseUrl, inputPricePerMillion: 10, outputPricePerMillion: 40, enabled: true } });
  await registry.upsertModel({ model: { name: "auto-a", provider: "auto", enabled: true, auto: { candidates: ["auto-b", "cheap", "dear"] } } });
  await registry.upsertModel({ model: { name: "auto-b", provider: "auto", enabled: true, auto: { candidates: ["auto-a"] } } });

  const post = (model: string) =>
    fetch(`${mesh.facadeUrl}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }) });
  const answer = await post("auto-a");
  const body = (await answer.json()) as { choices?: { message: { content: string } }[] };
  t.is(answer.status, 200, JSON.stringify(body));
  t.regex(answer.headers.get("x-iir-route") ?? "", /model=cheap/, "the cheap model won the ranking");
  t.is(body.choices?.[0]?.message.content, "echo: hi", "the runner-up answered");
  t.true(failing.requests.length >= 1 && working.requests.length === 1, "the winner was tried, then the runner-up");

  // auto-b's only candidate is a router: nothing to route to, said in OpenAI's format, not a loop or a 5xx.
  const looped = await post("auto-b");
  const error = (await looped.json()) as { error?: { message: string; type: string } };
  t.is(looped.status, 400);
  t.is(error.error?.type, "invalid_request_error");
  t.regex(error.error?.message ?? "", /auto-a: a router itself/);
});

test("iir models show and list, as tables or --json, never print credentials in base URLs", async (t) => {
  const { db } = await createMigratedRegistry(t);
  const lines: string[] = [];
  const output = { log: (line: string) => void lines.push(line) };
  await runModelsCommand(
    [
      "add", "gpt-4o", "--provider", "openai",
      "--base-url", "http://admin:entry-secret@127.0.0.1:9/v1",
      "--deployment", "provider=azure,model=gpt-4o,base-url=https://proxy:deploy-secret@east.example.com/openai?api-key=query-secret,name=east",
      "--deployment", "provider=openai,base-url=https://plain.example.com,name=plain",
    ],
    db,
    output,
  );
  for (const args of [["show", "gpt-4o"], ["show", "gpt-4o", "--json"], ["list"], ["list", "--json"]]) {
    lines.length = 0;
    await runModelsCommand(args, db, output);
    const text = lines.join("\n");
    for (const secret of ["entry-secret", "deploy-secret", "query-secret"]) t.false(text.includes(secret), `${args.join(" ")} shows ${secret}`);
    t.true(text.includes("://***@127.0.0.1:9/v1"), `${args.join(" ")} still shows where the entry is served`);
    // The table names deployments only; the others show their URLs.
    if (args[0] === "list" && args.length === 1) continue;
    t.true(text.includes("://***@east.example.com/openai?api-key=***"), `${args.join(" ")} still shows where the deployment is`);
    t.true(text.includes("https://plain.example.com"), `${args.join(" ")} shows a URL without credentials as it is`);
    t.false(text.includes("https://plain.example.com/"), "exactly as stored");
  }
});
