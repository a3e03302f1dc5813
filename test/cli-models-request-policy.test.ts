import fs from "node:fs/promises";
import path from "node:path";
import test, { type ExecutionContext } from "ava";
import { getModel, listModels } from "../services/router/registry/models.repository.js";
import { runModelsCommand, runSeedCommand, UsageError } from "../cli/commands/models.js";
import { createMigratedRegistry, createTempDirectory } from "./registry-fixtures.js";

// `iir models` and `iir seed` for a model's request-field policy, sampled caching and key variable.

async function setUp(t: ExecutionContext) {
  const registry = await createMigratedRegistry(t);
  const lines: string[] = [];
  const output = { log: (line: string) => void lines.push(line) };
  const run = (...args: string[]) => runModelsCommand(args, registry.db, output);
  return { ...registry, lines, output, run };
}

test("--allow-request-field repeats, --cache-sampled turns sampled caching on; list shows both", async (t) => {
  const { db, lines, run } = await setUp(t);
  await run("add", "or-auto", "--provider", "openrouter", "--allow-request-field", "models", "--allow-request-field", "provider", "--cache-sampled");
  const added = await getModel(db, "or-auto");
  t.deepEqual(added?.allowedRequestFields, ["models", "provider"]);
  t.true(added?.cacheSampled);

  lines.length = 0;
  await run("list");
  t.regex(lines[0] ?? "", /\bCACHE SAMPLED\s+ALLOWED FIELDS\s+FALLBACKS$/);
  t.regex(lines[1] ?? "", /^or-auto\s+openrouter\s.*\byes\s+yes\s+models,provider\s+-$/);

  lines.length = 0;
  await run("list", "--json");
  const listed = JSON.parse(lines.join("\n")) as { models: Array<Record<string, unknown>> };
  t.like(listed.models[0], { allowed_request_fields: ["models", "provider"], cache_sampled: true });
});

test("update replaces the allowed list, '' clears it, --no-cache-sampled turns caching off", async (t) => {
  const { db, run } = await setUp(t);
  await run("add", "gpt", "--provider", "openai", "--allow-request-field", "store", "--cache-sampled");
  await run("update", "gpt", "--allow-request-field", "service_tier");
  t.deepEqual((await getModel(db, "gpt"))?.allowedRequestFields, ["service_tier"]);
  t.true((await getModel(db, "gpt"))?.cacheSampled, "flags not given stay as they were");
  await run("update", "gpt", "--allow-request-field", "", "--no-cache-sampled");
  const cleared = await getModel(db, "gpt");
  t.deepEqual(cleared?.allowedRequestFields, []);
  t.false(cleared?.cacheSampled);
  await t.throwsAsync(run("update", "gpt", "--cache-sampled", "--no-cache-sampled"), { instanceOf: UsageError, message: /contradict/ });
});

test("a key variable outside EXTERNAL_* and a bad field name are refused with the reason, and nothing is written", async (t) => {
  const { db, run } = await setUp(t);
  const key = await t.throwsAsync(run("add", "m", "--provider", "openai", "--api-key-env", "AWS_SECRET_ACCESS_KEY"), { instanceOf: UsageError });
  t.regex(key?.message ?? "", /api_key_env must name an EXTERNAL_\* environment variable .*"AWS_SECRET_ACCESS_KEY"/);
  const field = await t.throwsAsync(run("add", "m", "--provider", "openai", "--allow-request-field", "service tier"), { instanceOf: UsageError });
  t.regex(field?.message ?? "", /allowed_request_fields\[0\] must be a request field name/);
  await run("add", "m", "--provider", "openai", "--api-key-env", "EXTERNAL_TEAM_KEY");
  t.is((await getModel(db, "m"))?.apiKeyEnv, "EXTERNAL_TEAM_KEY");
});

test("seed reads allowed_request_fields and cache_sampled, and refuses a key variable outside EXTERNAL_*", async (t) => {
  const { db, output } = await setUp(t);
  const directory = await createTempDirectory(t);
  const good = path.join(directory, "good.yaml");
  await fs.writeFile(good, `models:
  - name: tiered
    provider: openai
    api_key_env: EXTERNAL_OPENAI_KEY
    allowed_request_fields: [service_tier]
    cache_sampled: true
  - name: plain
    provider: groq
`);
  await runSeedCommand([good], db, output);
  t.like(await getModel(db, "tiered"), { allowedRequestFields: ["service_tier"], cacheSampled: true });
  t.like(await getModel(db, "plain"), { allowedRequestFields: [], cacheSampled: false });

  const bad = path.join(directory, "bad.json");
  await fs.writeFile(bad, JSON.stringify({
    models: [
      { name: "leaky", provider: "openai", api_key_env: "AWS_SECRET_ACCESS_KEY" },
      { name: "typed", provider: "openai", allowed_request_fields: "service_tier", cache_sampled: "yes" },
    ],
  }));
  const error = await t.throwsAsync(runSeedCommand([bad], db, output));
  t.regex(error?.message ?? "", /models\[0\]\.api_key_env must name an EXTERNAL_\* environment variable/);
  t.regex(error?.message ?? "", /models\[1\]\.allowed_request_fields must be a list of request field names/);
  t.regex(error?.message ?? "", /models\[1\]\.cache_sampled must be true or false/);
  t.deepEqual((await listModels(db)).map((model) => model.name), ["plain", "tiered"], "nothing of the bad file was written");
});
