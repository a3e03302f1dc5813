import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import test from "ava";
import OpenAI from "openai";
import { startFakeUpstream, type FakeUpstream } from "./support/fake-openai-upstream.js";
import { spawnIir } from "./support/iir-process.js";
import { freePort, stopOnTeardown, temporaryDirectory } from "./support/process-fixtures.js";

// The `iir` command as a user runs it: separate processes, signals, start-up failures.

let upstream: FakeUpstream;

test.before(async () => {
  upstream = await startFakeUpstream();
});

test.after.always(async () => {
  await upstream?.close();
});

function baseEnv(directory: string, upstreamUrl = upstream.baseUrl): Record<string, string> {
  return {
    IIR_HOST: "127.0.0.1",
    SQLITE_DB_PATH: path.join(directory, "iir.db"),
    OPENAI_BASE_URL: upstreamUrl,
    EXTERNAL_OPENAI_KEY: "sk-test",
    CACHE_TTL: "0",
  };
}

test("iir router and iir facade --router run as two processes over h2c", async (t) => {
  const directory = temporaryDirectory(t);
  const routerPort = await freePort();
  const router = stopOnTeardown(t, spawnIir(["router"], { ...baseEnv(directory), IIR_ROUTER_PORT: String(routerPort) }));
  await router.waitForLog("router started");
  const facadePort = await freePort();
  const facade = stopOnTeardown(
    t,
    spawnIir(["facade", "--router", `http://127.0.0.1:${routerPort}`], {
      IIR_HOST: "127.0.0.1",
      IIR_FACADE_PORT: String(facadePort),
      // The facade reads API keys from the router's registry file.
      SQLITE_DB_PATH: path.join(directory, "iir.db"),
    }),
  );
  await facade.waitForLog("facade started");
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${facadePort}/v1`, apiKey: "unused", maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "split mode" }], stream: true });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
  t.is(text, "echo: split mode");
  const missing = await t.throwsAsync(client.chat.completions.create({ model: "no-such", messages: [{ role: "user", content: "x" }] }));
  t.true(missing instanceof OpenAI.NotFoundError, "Connect codes survive the h2c hop");
  const ready = await fetch(`http://127.0.0.1:${facadePort}/ready`);
  t.is(ready.status, 200);

  router.kill("SIGTERM");
  t.is((await router.exited).code, 0);
  const notReady = await fetch(`http://127.0.0.1:${facadePort}/ready`);
  t.is(notReady.status, 503, "the facade reports its router gone");
  const unavailable = await t.throwsAsync(client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "x" }] }));
  t.is((unavailable as InstanceType<typeof OpenAI.APIError>).status, 503);
});

test("SIGTERM lets an in-flight stream finish, refuses new connections, and exits 0", async (t) => {
  // Its own upstream: a script on the shared one could answer a concurrent test's request.
  const slow = await startFakeUpstream();
  t.teardown(() => slow.close());
  const directory = temporaryDirectory(t);
  const facadePort = await freePort();
  const iir = stopOnTeardown(
    t,
    spawnIir(["all"], { ...baseEnv(directory, slow.baseUrl), IIR_FACADE_PORT: String(facadePort), IIR_ROUTER_PORT: String(await freePort()) }),
  );
  await iir.waitForLog("iir started");
  slow.script({ kind: "answer", deltas: ["slow ", "but ", "complete"], wire: { delayMs: 300 } });
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${facadePort}/v1`, apiKey: "unused", maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "x" }], stream: true });
  const iterator = stream[Symbol.asyncIterator]();
  let text = "";
  const first = await iterator.next();
  text += first.done ? "" : (first.value.choices[0]?.delta.content ?? "");
  iir.kill("SIGTERM");
  await iir.waitForLog("shutting down");
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) text += next.value.choices[0]?.delta.content ?? "";
  t.is(text, "slow but complete");
  const exit = await iir.exited;
  t.is(exit.code, 0);
  await t.throwsAsync(fetch(`http://127.0.0.1:${facadePort}/health`), undefined, "the port is closed after exit");
});

test("a bad configuration prints every problem in one message and exits non-zero", async (t) => {
  const iir = spawnIir(["all"], { IIR_FACADE_PORT: "eighty", LOG_LEVEL: "loud", OPENAI_BASE_URL: "ftp://x" });
  const exit = await iir.exited;
  t.is(exit.code, 1);
  t.regex(exit.stderr, /IIR_FACADE_PORT/);
  t.regex(exit.stderr, /LOG_LEVEL/);
  t.regex(exit.stderr, /OPENAI_BASE_URL/);
  t.notRegex(exit.stderr, /\n\s+at /, "no stack trace");
});

test("a port already taken is named in one clear line", async (t) => {
  const directory = temporaryDirectory(t);
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const exit = await spawnIir(["router"], { ...baseEnv(directory), IIR_ROUTER_PORT: String(port) }).exited;
  t.is(exit.code, 1);
  t.regex(exit.stderr, new RegExp(`port ${port} is already in use`));
  t.notRegex(exit.stderr, /\n\s+at /);
});

test("a registry path that cannot be opened is a clear start-up error", async (t) => {
  const directory = temporaryDirectory(t);
  fs.mkdirSync(path.join(directory, "iir.db"));
  const exit = await spawnIir(["router"], { ...baseEnv(directory), IIR_ROUTER_PORT: "0" }).exited;
  t.is(exit.code, 1);
  t.regex(exit.stderr, /iir\.db/);
  t.notRegex(exit.stderr, /\n\s+at /);
});

test("an unknown command prints usage and exits 2", async (t) => {
  const exit = await spawnIir(["frobnicate"], {}).exited;
  t.is(exit.code, 2);
  t.regex(exit.stderr, /unknown command 'frobnicate'/);
  t.regex(exit.stderr, /usage: iir/);
});
