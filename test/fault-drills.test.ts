import net from "node:net";
import test, { type ExecutionContext } from "ava";
import { adminRegistry } from "./support/admin.js";
import { startFakeUpstream, type FakeUpstream, type Scenario } from "./support/fake-openai-upstream.js";
import { startGatewayProcess, type GatewayProcess } from "./support/gateway-process.js";
import { redisAnswers, requireRedis, sharedRedisUrl } from "./support/redis-fixtures.js";

// Fault drills on real processes (`iir all`), with the times scaled down through the
// variables: outages of seconds, cooldowns of hundreds of milliseconds. No assertion is on elapsed
// time: each waits for a condition (a log line, a count at the fake) with a generous limit.

const hello = [{ role: "user" as const, content: "hello there" }];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A fake whose answer is a 500 while `outage.on` is set, the normal answer otherwise (read per request). */
async function switchableUpstream(t: ExecutionContext): Promise<{ upstream: FakeUpstream; outage: { on: boolean } }> {
  const outage = { on: false };
  const failing: Scenario = { kind: "error", status: 500, headersDelayMs: 100 };
  const upstream = await startFakeUpstream({
    get defaultScenario() {
      return outage.on ? failing : undefined;
    },
  });
  t.teardown(() => upstream.close());
  return { upstream, outage };
}

async function fakeUpstream(t: ExecutionContext): Promise<FakeUpstream> {
  const upstream = await startFakeUpstream();
  t.teardown(() => upstream.close());
  return upstream;
}

function chatCalls(upstream: FakeUpstream): number {
  return upstream.requests.filter((request) => request.path.startsWith("/v1/chat/completions")).length;
}

async function chat(gateway: GatewayProcess, model: string, stream = false): Promise<{ status: number; body: string; backend: string | null }> {
  const response = await fetch(`${gateway.facadeUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, messages: hello, stream }),
  });
  return { status: response.status, body: await response.text(), backend: response.headers.get("x-iir-backend") };
}

/** Registers `primary` (at `primaryUrl`) falling back to `spare` (at `spareUrl`). */
async function registerPair(gateway: GatewayProcess, primaryUrl: string, spareUrl: string): Promise<void> {
  const registry = adminRegistry(gateway.routerUrl);
  await registry.upsertModel({ model: { name: "spare", provider: "openai", baseUrl: spareUrl, upstreamModel: "gpt-spare", enabled: true } });
  await registry.upsertModel({ model: { name: "primary", provider: "openai", baseUrl: primaryUrl, upstreamModel: "gpt-primary", fallbacks: ["spare"], enabled: true } });
}

async function until(condition: () => boolean | Promise<boolean>, what: string, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await sleep(50);
  }
}

const breakerEnv = { IIR_BREAKER_FAILURES: "3", IIR_BREAKER_COOLDOWN_MS: "300", IIR_BREAKER_MAX_COOLDOWN_MS: "600", OPENAI_BASE_URL: "http://127.0.0.1:9/v1" };

test("drill: a provider failing for a while — the breaker opens, traffic moves, one probe at a time, it closes and traffic returns", async (t) => {
  const { upstream: primary, outage } = await switchableUpstream(t);
  const spare = await fakeUpstream(t);
  const gateway = await startGatewayProcess(t, { ...breakerEnv, IIR_RETRY_BUDGET_MIN: "100" });
  await registerPair(gateway, primary.baseUrl, spare.baseUrl);
  t.is((await chat(gateway, "primary")).status, 200);
  t.is(chatCalls(primary), 1, "the healthy primary answers");

  outage.on = true;
  const before = chatCalls(primary);
  // Four clients at once, for three seconds of outage.
  const statuses: number[] = [];
  const outageEnds = Date.now() + 3000;
  await Promise.all(
    [0, 1, 2, 3].map(async () => {
      while (Date.now() < outageEnds) statuses.push((await chat(gateway, "primary")).status);
    }),
  );
  const duringOutage = chatCalls(primary) - before;
  t.true(statuses.every((status) => status === 200), `every request was answered by the fallback: ${statuses.join(",")}`);
  t.true(gateway.count("circuit breaker opened") >= 1, "the opening is logged");
  // The first failures open it (the four clients may have had one request each in flight when it
  // did); after that only probes reach the primary, exactly one per half-open period.
  const probes = gateway.count("circuit breaker half-open");
  t.true(duringOutage <= 3 + 3 + probes, `${duringOutage} calls reached the failing primary, with ${probes} half-open periods`);
  t.true(duringOutage < statuses.length / 2, `far fewer upstream calls (${duringOutage}) than requests (${statuses.length})`);

  outage.on = false;
  const recovered = chatCalls(primary);
  await until(async () => {
    await chat(gateway, "primary");
    return chatCalls(primary) > recovered && gateway.count("circuit breaker closed") >= 1;
  }, "the breaker closes after the recovery");
  const back = chatCalls(primary);
  for (let index = 0; index < 3; index++) t.is((await chat(gateway, "primary")).status, 200);
  t.is(chatCalls(primary), back + 3, "traffic returns to the primary");
});

test("drill: a blackholed deployment — the time-to-first-token timeout moves the request to the fallback", async (t) => {
  // Accepts connections and never answers a byte.
  const sockets = new Set<net.Socket>();
  let closed = 0;
  const blackhole = net.createServer((socket) => {
    sockets.add(socket);
    socket.resume();
    socket.once("close", () => (closed += 1));
  });
  await new Promise<void>((resolve) => blackhole.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    blackhole.close();
  });
  const spare = await fakeUpstream(t);
  const gateway = await startGatewayProcess(t, { ...breakerEnv, IIR_TTFT_TIMEOUT: "1" });
  await registerPair(gateway, `http://127.0.0.1:${(blackhole.address() as net.AddressInfo).port}/v1`, spare.baseUrl);
  const answered = await chat(gateway, "primary", true);
  t.is(answered.status, 200);
  t.regex(answered.body, /"content":" there"/);
  t.regex(answered.body, /\[DONE\]/);
  t.is(chatCalls(spare), 1, "the fallback answered");
  await until(() => sockets.size > 0 && closed === sockets.size, "the blackholed request was aborted, its socket closed", 30_000);
});

test("drill: a 429 with retry-after — the backend is skipped until then, then used again", async (t) => {
  const primary = await fakeUpstream(t);
  const spare = await fakeUpstream(t);
  const gateway = await startGatewayProcess(t, { ...breakerEnv, IIR_BREAKER_MAX_COOLDOWN_MS: "10000" });
  await registerPair(gateway, primary.baseUrl, spare.baseUrl);
  primary.script({ kind: "error", status: 429, headers: { "retry-after": "2" } });
  t.is((await chat(gateway, "primary")).status, 200, "the fallback answers the rate-limited request");
  t.is((await chat(gateway, "primary")).status, 200);
  t.is(chatCalls(primary), 1, "skipped while the retry-after runs");
  t.true(gateway.logs().some((line) => line.includes("circuit breaker opened") && line.includes("retry-after 2 s")));
  await until(async () => {
    await chat(gateway, "primary");
    return chatCalls(primary) === 2;
  }, "the primary is called again after the retry-after");
  t.is(gateway.count("circuit breaker closed"), 1);
});

test("drill: a spent retry budget ends failing requests with their own error instead of trying the fallback", async (t) => {
  const { upstream: primary, outage } = await switchableUpstream(t);
  const spare = await fakeUpstream(t);
  // Breakers out of the way: only the budget limits the extra calls.
  const gateway = await startGatewayProcess(t, { ...breakerEnv, IIR_BREAKER_FAILURES: "1000", IIR_BREAKER_FAILURE_RATE: "0", IIR_RETRY_BUDGET_PERCENT: "0", IIR_RETRY_BUDGET_MIN: "2", IIR_RETRY_BUDGET_WINDOW: "600" });
  await registerPair(gateway, primary.baseUrl, spare.baseUrl);
  outage.on = true;
  const statuses: number[] = [];
  for (let index = 0; index < 5; index++) statuses.push((await chat(gateway, "primary")).status);
  t.deepEqual(statuses.slice(0, 2), [200, 200], "the budget's floor lets two requests fail over");
  t.true(statuses.slice(2).every((status) => status >= 500), `then the primary's own error stands: ${statuses.join(",")}`);
  t.is(chatCalls(spare), 2, "the fallback got only what the budget allowed");
  t.is(gateway.count("retry budget exhausted"), 1, "logged once per window");
});

test("drill: two router replicas on one Redis — failures seen by one open the breaker on the other", async (t) => {
  if (!(await requireRedis(t)) || !(await redisAnswers())) return;
  const { upstream: primary, outage } = await switchableUpstream(t);
  const spare = await fakeUpstream(t);
  const shared = { ...breakerEnv, IIR_BREAKER_COOLDOWN_MS: "5000", IIR_BREAKER_MAX_COOLDOWN_MS: "10000", REDIS_URL: sharedRedisUrl, REDIS_KEY_PREFIX: `iir-drill-${process.pid}-${Date.now()}:` };
  const [first, second] = await Promise.all([startGatewayProcess(t, shared), startGatewayProcess(t, shared)]);
  await registerPair(first!, primary.baseUrl, spare.baseUrl);
  await registerPair(second!, primary.baseUrl, spare.baseUrl);
  outage.on = true;
  for (let index = 0; index < 3; index++) t.is((await chat(first!, "primary")).status, 200);
  t.is(chatCalls(primary), 3);
  await until(() => second!.count("another router replica opened it") >= 1, "the second replica mirrors the opening", 30_000);
  for (let index = 0; index < 5; index++) t.is((await chat(second!, "primary")).status, 200);
  t.is(chatCalls(primary), 3, "the second replica sent no call to the failing upstream while the breaker is open");
});
