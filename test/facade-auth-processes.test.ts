import path from "node:path";
import test from "ava";
import OpenAI from "openai";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { spawnIir } from "./support/iir-process.js";
import { freePort, stopOnTeardown, temporaryDirectory } from "./support/process-fixtures.js";

// Split mode as a user runs it: `iir router`, `iir facade` and `iir keys` as separate processes that
// share one registry file. The facade reads keys from that file (read-only) without restarting.

let upstream: FakeUpstream;

test.before(async () => {
  upstream = await startFakeUpstream();
});

test.after.always(async () => {
  await upstream?.close();
});

async function eventually(check: () => Promise<boolean>, withinMs = 3000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return check();
}

test("iir router warns it is open, then the split facade needs the key iir keys created, logs its name, and drops it once revoked", async (t) => {
  const directory = temporaryDirectory(t);
  const registry = { SQLITE_DB_PATH: path.join(directory, "iir.db"), IIR_REGISTRY_REFRESH_MS: "200" };
  const routerPort = await freePort();
  const router = stopOnTeardown(
    t,
    spawnIir(["router"], { ...registry, IIR_HOST: "127.0.0.1", IIR_ROUTER_PORT: String(routerPort), OPENAI_BASE_URL: upstream.baseUrl, EXTERNAL_OPENAI_KEY: "sk-test" }),
  );
  await router.waitForLog("router started");
  const facadePort = await freePort();
  const facade = stopOnTeardown(
    t,
    spawnIir(["facade", "--router", `http://127.0.0.1:${routerPort}`], { ...registry, IIR_HOST: "127.0.0.1", IIR_FACADE_PORT: String(facadePort) }),
  );
  const warning = await router.waitForLog(
    "inference is open to anyone who reaches the facade or the router: no API keys exist and IIR_REQUIRE_AUTH is not set; create one with `iir keys create --name NAME`",
  );
  t.is(warning.level, "warn");
  await facade.waitForLog("facade started");
  const baseURL = `http://127.0.0.1:${facadePort}/v1`;
  const ask = (apiKey: string) => new OpenAI({ baseURL, apiKey, maxRetries: 0 }).chat.completions.create({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "split" }] });
  t.is((await ask("anything")).choices[0]?.message.content, "echo: split");

  const created = await spawnIir(["keys", "create", "--name", "split-team"], registry).exited;
  t.is(created.code, 0, created.stderr);
  const key = created.stdout.split("\n").find((line) => line.startsWith("iir-")) ?? "";
  const refusedWithout = await eventually(async () => {
    const error = await ask("iir-guess").catch((failure: unknown) => failure);
    return error instanceof OpenAI.AuthenticationError;
  });
  t.true(refusedWithout, "the running facade picked up the key the CLI wrote");
  t.is((await ask(key)).choices[0]?.message.content, "echo: split");
  t.is((await spawnIir(["keys", "revoke", "split-team"], registry).exited).code, 0);
  const revoked = await eventually(async () => (await ask(key).catch((failure: unknown) => failure)) instanceof OpenAI.AuthenticationError);
  t.true(revoked, "the revoked key stopped working without a restart (and revoking the last key did not open the facade)");

  facade.kill("SIGTERM");
  const { stdout } = await facade.exited;
  const requests = stdout.split("\n").filter((line) => line.includes('"msg":"request"')).map((line) => JSON.parse(line) as Record<string, unknown>);
  t.true(requests.some((entry) => entry.keyName === "split-team" && entry.status === 200), "the request log names the key");
  t.false(stdout.includes(key), "and never holds the key itself");
});
