import fs from "node:fs/promises";
import path from "node:path";
import test, { type ExecutionContext } from "ava";
import { openDatabase } from "../services/router/registry/database.js";
import { getModel, listModels } from "../services/router/registry/models.repository.js";
import { runMigrateCommand, runModelsCommand, runSeedCommand, UsageError } from "../cli/commands/models.js";
import { createMigratedRegistry, createTempDirectory } from "./registry-fixtures.js";

function createOutput() {
  const lines: string[] = [];
  return { lines, log: (line: string) => void lines.push(line), text: () => lines.join("\n") };
}

async function setUp(t: ExecutionContext) {
  const registry = await createMigratedRegistry(t);
  const output = createOutput();
  const run = (...args: string[]) => runModelsCommand(args, registry.db, output);
  return { ...registry, output, run };
}

test("migrate says what ran, then that the registry is up to date", async (t) => {
  const db = openDatabase(path.join(await createTempDirectory(t), "iir.db"));
  t.teardown(() => db.destroy());
  const output = createOutput();
  await runMigrateCommand(db, output);
  t.regex(output.text(), /applied migration .*create-models-and-agents/);
  output.lines.length = 0;
  await runMigrateCommand(db, output);
  t.deepEqual(output.lines, ["registry already up to date"]);
});

test("add, list, update only the given flags, rm", async (t) => {
  const { db, output, run } = await setUp(t);
  await run("add", "gpt-4o", "--provider", "openai", "--base-url", "https://api.openai.com/v1", "--api-key-env", "EXTERNAL_OPENAI_KEY",
    "--fallbacks", "groq-llama, local-tiny", "--context-length", "128000", "--input-price", "2.5", "--output-price", "10");
  const added = await getModel(db, "gpt-4o");
  t.deepEqual(added?.fallbacks, ["groq-llama", "local-tiny"]);
  t.is(added?.contextLength, 128000);
  t.is(added?.outputPricePerMillion, 10);
  t.true(added?.enabled);

  await run("update", "gpt-4o", "--disabled", "--input-price", "3");
  const updated = await getModel(db, "gpt-4o");
  t.false(updated?.enabled);
  t.is(updated?.inputPricePerMillion, 3);
  t.is(updated?.baseUrl, "https://api.openai.com/v1", "flags not given stay as they were");
  t.deepEqual(updated?.fallbacks, ["groq-llama", "local-tiny"]);

  output.lines.length = 0;
  await run("list");
  t.regex(output.lines[0] ?? "", /^NAME\s+PROVIDER/);
  t.regex(output.lines[1] ?? "", /^gpt-4o\s+openai\s.*\bno\b.*groq-llama,local-tiny$/);

  output.lines.length = 0;
  await run("list", "--json");
  const listed = JSON.parse(output.text()) as { models: Array<Record<string, unknown>> };
  t.is(listed.models[0]?.["base_url"], "https://api.openai.com/v1");
  t.is(listed.models[0]?.["enabled"], false);

  await run("rm", "gpt-4o");
  t.deepEqual(await listModels(db), []);
  await t.throwsAsync(run("rm", "gpt-4o"), { message: /"gpt-4o" not found/ });
});

test("bad command lines are UsageErrors with a clear message and change nothing", async (t) => {
  const { db, run } = await setUp(t);
  const cases: Array<[string[], RegExp]> = [
    [["add", "m"], /--provider/],
    [["add", "--provider", "openai"], /exactly one model NAME/],
    [["add", "m", "--provider", "openai", "--base-url", "localhost:8080"], /base_url must be an http\(s\) URL/],
    [["add", "m", "--provider", "openai", "--context-length", "lots", "--input-price", "-1"], /--context-length[\s\S]*--input-price/],
    [["add", "m", "--provider", "openai", "--colour", "red"], /Unknown option '--colour'/],
    [["update", "m"], /nothing to change/],
    [["frobnicate"], /unknown models command 'frobnicate'/],
    [[], /missing models command/],
  ];
  for (const [args, message] of cases) {
    const error = await t.throwsAsync(run(...args), { instanceOf: UsageError }, args.join(" "));
    t.regex(error?.message ?? "", message);
  }
  t.deepEqual(await listModels(db), []);
});

test("add refuses an existing name and update an unknown one", async (t) => {
  const { db, run } = await setUp(t);
  await run("add", "m", "--provider", "local");
  await t.throwsAsync(run("add", "m", "--provider", "openai"), { message: /already exists/ });
  t.is((await getModel(db, "m"))?.provider, "local");
  await t.throwsAsync(run("update", "nope", "--provider", "openai"), { message: /"nope" not found/ });
});

test("seed upserts every model of a YAML file, and a second seed updates them", async (t) => {
  const { db, output } = await setUp(t);
  const file = path.join(await createTempDirectory(t), "models.yaml");
  await fs.writeFile(file, `models:
  - name: llama-70b
    provider: groq
    base_url: https://api.groq.com/openai/v1
    api_key_env: EXTERNAL_GROQ_KEY
    fallbacks: [tiny]
    context_length: 8192
    input_price_per_million: 0.59
    output_price_per_million: 0.79
  - name: tiny
    provider: local
    enabled: false
`);
  await runSeedCommand([file], db, output);
  t.regex(output.text(), /2 added, 0 updated/);
  const llama = await getModel(db, "llama-70b");
  t.deepEqual(llama?.fallbacks, ["tiny"]);
  t.is(llama?.inputPricePerMillion, 0.59);
  t.true(llama?.enabled, "enabled defaults to true");
  t.false((await getModel(db, "tiny"))?.enabled);
  await runSeedCommand([file], db, output);
  t.regex(output.text(), /0 added, 2 updated/);
});

test("seed with bad entries reports every problem by index and field and writes nothing", async (t) => {
  const { db, output } = await setUp(t);
  const file = path.join(await createTempDirectory(t), "models.json");
  await fs.writeFile(file, JSON.stringify({
    models: [
      { name: "good", provider: "openai" },
      { name: "bad-url", provider: "openai", base_url: "ftp://example.com" },
      { name: "no-provider", context_length: "big" },
      { name: "good", provider: "local", baseUrl: "http://typo" },
      "just a string",
    ],
  }));
  const error = await t.throwsAsync(runSeedCommand([file], db, output));
  const message = error?.message ?? "";
  t.regex(message, /models\[1\]\.base_url must be an http\(s\) URL/);
  t.regex(message, /models\[2\]\.context_length must be a number, got "big"/);
  t.regex(message, /models\[2\]\.provider must not be empty/);
  t.notRegex(message, /context_length must be an integer/, "a mistyped field is reported once");
  t.regex(message, /models\[3\]\.baseUrl is not a known field/);
  t.regex(message, /models\[3\]\.name "good" already appears at models\[0\]/);
  t.regex(message, /models\[4\] must be an object/);
  t.regex(message, /nothing was written/);
  t.deepEqual(await listModels(db), [], "the valid entry was not written either");
  await t.throwsAsync(runSeedCommand([], db, output), { instanceOf: UsageError });
  await t.throwsAsync(runSeedCommand([path.join(path.dirname(file), "absent.yaml")], db, output), { message: /cannot read seed file/ });
});
