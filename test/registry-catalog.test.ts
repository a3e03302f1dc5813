import test from "ava";
import { create } from "@bufbuild/protobuf";
import { ModelSchema } from "../gen/iir/registry/v1/registry_pb.js";
import { openDatabase } from "../services/router/registry/database.js";
import { createModelCatalog } from "../services/router/registry/model-catalog.js";
import { upsertModel, deleteModel } from "../services/router/registry/models.repository.js";
import { createMigratedRegistry } from "./registry-fixtures.js";

/** Polls until `condition` holds; gives up after `limitMs` so a broken refresh fails instead of hanging. */
async function eventually(condition: () => boolean, limitMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

test("the catalog holds enabled and disabled models after refresh", async (t) => {
  const { db } = await createMigratedRegistry(t);
  await upsertModel(db, create(ModelSchema, { name: "on", provider: "local", enabled: true }));
  await upsertModel(db, create(ModelSchema, { name: "off", provider: "local", enabled: false }));
  const catalog = createModelCatalog(db, { refreshMs: 60_000 });
  t.teardown(() => catalog.close());
  await catalog.refresh();
  t.true(catalog.get("on")?.enabled);
  t.false(catalog.get("off")?.enabled);
  t.deepEqual(catalog.list().map((model) => model.name), ["off", "on"]);
  t.is(catalog.get("unknown"), undefined);
});

test("changes written by another connection (the CLI) reach a running catalog without a restart", async (t) => {
  const { db, file } = await createMigratedRegistry(t);
  const catalog = createModelCatalog(db, { refreshMs: 25 });
  t.teardown(() => catalog.close());
  await catalog.refresh();
  t.is(catalog.get("from-cli"), undefined);

  const cli = openDatabase(file);
  t.teardown(() => cli.destroy());
  await upsertModel(cli, create(ModelSchema, { name: "from-cli", provider: "openai", enabled: true }));
  t.true(await eventually(() => catalog.get("from-cli") !== undefined), "the new model appears");

  await upsertModel(cli, create(ModelSchema, { name: "from-cli", provider: "openai", enabled: false }));
  t.true(await eventually(() => catalog.get("from-cli")?.enabled === false), "the update appears");

  await deleteModel(cli, "from-cli");
  t.true(await eventually(() => catalog.get("from-cli") === undefined), "the deletion appears");
});

test("an unchanged registry keeps the same snapshot between ticks", async (t) => {
  const { db } = await createMigratedRegistry(t);
  await upsertModel(db, create(ModelSchema, { name: "steady", provider: "local" }));
  const catalog = createModelCatalog(db, { refreshMs: 10 });
  t.teardown(() => catalog.close());
  await catalog.refresh();
  const before = catalog.list();
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.is(catalog.list(), before, "no reload happened although several ticks passed");
});
