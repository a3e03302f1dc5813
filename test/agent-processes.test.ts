import fs from "node:fs";
import path from "node:path";
import test from "ava";
import OpenAI from "openai";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RegistryService } from "../gen/iir/registry/v1/registry_pb.js";
import { encodeGguf } from "../services/agent/model-file/gguf-writer.js";
import { createTinyModelSpec } from "../services/agent/model-file/tiny-model.js";
import { startAgentProcess, startGatewayProcess } from "./support/gateway-process.js";
import { spawnIir } from "./support/iir-process.js";
import { freePort, stopOnTeardown, temporaryDirectory } from "./support/process-fixtures.js";

// Agents as separate processes, as users run them: joining, dying, arriving early, bad model files.

const model = "local/iir-tiny";

test("npm start's default: iir all writes the tiny model, starts an agent, and streams from local/iir-tiny", async (t) => {
  const directory = temporaryDirectory(t);
  const facadePort = await freePort();
  const tinyPath = path.join(directory, "models", "iir-tiny.gguf");
  const iir = stopOnTeardown(
    t,
    spawnIir(["all"], {
      IIR_HOST: "127.0.0.1",
      SQLITE_DB_PATH: path.join(directory, "iir.db"),
      IIR_FACADE_PORT: String(facadePort),
      IIR_ROUTER_PORT: String(await freePort()),
      IIR_AGENT_PORT: String(await freePort()),
      IIR_TINY_MODEL_PATH: tinyPath,
    }),
  );
  await iir.waitForLog("iir started", 60_000);
  t.true(fs.existsSync(tinyPath), "the built-in model was generated on first use");
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${facadePort}/v1`, apiKey: "unused", maxRetries: 0 });
  const stream = await client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 8, temperature: 0, stream: true });
  let deltas = 0;
  for await (const chunk of stream) if (chunk.choices[0]?.delta.content) deltas += 1;
  t.true(deltas > 0);
  iir.kill("SIGTERM");
  const exit = await iir.exited;
  t.is(exit.code, 0, `signal ${String(exit.signal)}; stderr: ${exit.stderr.slice(-2000)}; stdout tail: ${exit.stdout.slice(-1500)}`);
});

test("agents join by themselves; one killed mid-stream gives an error event, goes stale, and traffic moves to the survivor", async (t) => {
  const gateway = await startGatewayProcess(t, { HEARTBEAT_INTERVAL: "1", AGENT_STALE_AFTER: "2" });
  const routerPort = gateway.routerPort;
  const agents = { alpha: await startAgentProcess(t, routerPort, "alpha"), beta: await startAgentProcess(t, routerPort, "beta") };
  await Promise.all([agents.alpha.waitForLog("agent registered"), agents.beta.waitForLog("agent registered")]);
  const client = new OpenAI({ baseURL: gateway.facadeUrl, apiKey: "unused", maxRetries: 0 });
  t.true((await client.models.list()).data.some((entry) => entry.id === model));

  const backends = new Set<string>();
  await Promise.all(
    [1, 2, 3, 4].map(async () => {
      const { response } = await client.chat.completions.create({ model, messages: [{ role: "user", content: "x" }], max_tokens: 300, temperature: 0 }).withResponse();
      backends.add(response.headers.get("x-iir-backend") ?? "");
    }),
  );
  t.deepEqual([...backends].sort(), ["alpha", "beta"], "both agents took load");

  const { data: stream, response } = await client.chat.completions
    .create({ model, messages: [{ role: "user", content: "long" }], max_tokens: 3900, temperature: 0, stream: true })
    .withResponse();
  const victim = response.headers.get("x-iir-backend") as "alpha" | "beta";
  const survivor = victim === "alpha" ? "beta" : "alpha";
  const iterator = stream[Symbol.asyncIterator]();
  await iterator.next();
  agents[victim].kill("SIGKILL");
  const error = await t.throwsAsync(async () => {
    for (let next = await iterator.next(); !next.done; next = await iterator.next());
  });
  t.true(error instanceof OpenAI.APIError, "the client got an error event, not a hang or a silently short answer");

  const registry = createClient(RegistryService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${routerPort}` }));
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const listed = (await registry.listAgents({})).agents;
  t.true(listed.find((agent) => agent.id === victim)?.stale);
  t.false(listed.find((agent) => agent.id === survivor)?.stale);
  for (let index = 0; index < 3; index++) {
    const { response: answer } = await client.chat.completions.create({ model, messages: [{ role: "user", content: "x" }], max_tokens: 2 }).withResponse();
    t.is(answer.headers.get("x-iir-backend"), survivor);
  }
});

test("an agent started before its router retries until the router is up, and registers again after the router restarts", async (t) => {
  const directory = temporaryDirectory(t);
  const routerPort = await freePort();
  const agent = await startAgentProcess(t, routerPort, "early-bird");
  await agent.waitForLog("agent registration failed; retrying");
  const routerEnv = { IIR_HOST: "127.0.0.1", IIR_ROUTER_PORT: String(routerPort), HEARTBEAT_INTERVAL: "1" };
  const router = stopOnTeardown(t, spawnIir(["router"], { ...routerEnv, SQLITE_DB_PATH: path.join(directory, "first.db") }));
  await router.waitForLog("router started");
  const registered = await agent.waitForLog("agent registered", 30_000);
  t.true((registered.attempt as number) > 1);

  router.kill("SIGKILL");
  await router.exited;
  // A new router with an empty registry: the agent's next beat is answered "register again".
  const restarted = stopOnTeardown(t, spawnIir(["router"], { ...routerEnv, SQLITE_DB_PATH: path.join(directory, "second.db") }));
  await restarted.waitForLog("router started");
  await agent.waitForLog("router does not know this agent; registering again", 30_000);
  const registry = createClient(RegistryService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${routerPort}` }));
  const deadline = Date.now() + 10_000;
  let ids: string[] = [];
  while (Date.now() < deadline && !ids.includes("early-bird")) {
    ids = (await registry.listAgents({})).agents.map((entry) => entry.id);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.true(ids.includes("early-bird"));
  agent.kill("SIGTERM");
  t.is((await agent.exited).code, 0);
});

const spec = createTinyModelSpec();
const badModels: ReadonlyArray<[string, () => Buffer | undefined, RegExp]> = [
  ["missing.gguf", () => undefined, /missing|does not exist|no such file/i],
  ["truncated.gguf", () => encodeGguf(spec).subarray(0, 20_000), /truncated/],
  ["not-a-model.gguf", () => Buffer.from("<html>this is not a model</html>".repeat(10)), /not a GGUF|not-gguf|magic/i],
  ["no-heads.gguf", () => encodeGguf({ ...spec, metadata: spec.metadata.filter(([key]) => key !== "llama.attention.head_count") }), /head_count/],
];

for (const [name, contents, reason] of badModels) {
  test(`a bad model file (${name}) is one clear start-up error, not a native crash`, async (t) => {
    const directory = temporaryDirectory(t);
    const file = path.join(directory, name);
    const bytes = contents();
    if (bytes !== undefined) fs.writeFileSync(file, bytes);
    const exit = await spawnIir(["agent"], { IIR_HOST: "127.0.0.1", IIR_AGENT_PORT: "0", IIR_AGENT_MODEL: file, IIR_AGENT_GPU: "false" }).exited;
    t.is(exit.code, 1, "a clean exit 1, not a signal or abort");
    t.is(exit.signal, null);
    t.true(exit.stderr.includes(file), "the message names the file");
    t.regex(exit.stderr, reason);
    t.notRegex(exit.stderr, /\n\s+at /, "no stack trace");
  });
}
