import test from "ava";
import OpenAI from "openai";
import { startAgentProcess, startGatewayProcess } from "./support/gateway-process.js";

// Fault drill: an agent killed mid-stream, with two agents serving the tiny model, on real processes.

const model = "local/iir-tiny";

test("drill: an agent killed mid-stream — the client gets an error event and the next request goes to the other agent at once", async (t) => {
  // Staleness takes a minute here: only the router's own observation can move the traffic in time.
  const gateway = await startGatewayProcess(t, { HEARTBEAT_INTERVAL: "1", AGENT_STALE_AFTER: "60" });
  const agents = { alpha: await startAgentProcess(t, gateway.routerPort, "alpha"), beta: await startAgentProcess(t, gateway.routerPort, "beta") };
  await Promise.all([agents.alpha.waitForLog("agent registered"), agents.beta.waitForLog("agent registered")]);
  const client = new OpenAI({ baseURL: gateway.facadeUrl, apiKey: "unused", maxRetries: 0 });

  const { data: stream, response } = await client.chat.completions
    .create({ model, messages: [{ role: "user", content: "long" }], max_tokens: 3900, temperature: 0, stream: true })
    .withResponse();
  const victim = response.headers.get("x-iir-backend") as "alpha" | "beta";
  t.true(victim === "alpha" || victim === "beta", `served by ${victim}`);
  const survivor = victim === "alpha" ? "beta" : "alpha";
  const iterator = stream[Symbol.asyncIterator]();
  await iterator.next();
  agents[victim].kill("SIGKILL");
  const error = await t.throwsAsync(async () => {
    for (let next = await iterator.next(); !next.done; next = await iterator.next());
  });
  t.true(error instanceof OpenAI.APIError, "the client got an error event, not a hang or a silently short answer");

  await gateway.process.waitForLog("agent marked suspect: a call to it broke; it gets no requests until it is heard from again", 30_000);
  const victimErrors = async () => {
    const text = await (await fetch(`${gateway.facadeUrl.replace(/\/v1$/, "")}/metrics`)).text();
    return text.split("\n").filter((line) => line.startsWith("iir_backend_errors_total") && line.includes(`backend="${victim}"`)).map((line) => Number(line.split(" ").at(-1))).reduce((sum, value) => sum + value, 0);
  };
  const errorsBefore = await victimErrors();
  // At once: no wait for missed heartbeats, and no failed attempt on the dead agent first.
  for (let index = 0; index < 3; index++) {
    const { response: answer } = await client.chat.completions.create({ model, messages: [{ role: "user", content: "x" }], max_tokens: 2 }).withResponse();
    t.is(answer.headers.get("x-iir-backend"), survivor);
  }
  t.is(await victimErrors(), errorsBefore, "the dead agent was not tried: it was skipped, not failed over from");
});
