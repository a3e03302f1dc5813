import { startTargets, targetNames, type Target, type TargetName, type Targets } from "./gateway-targets.js";
import { loadGeneratorName, runLoad, type LoadResult } from "./load-generator.js";
import { startMockUpstream, type MockUpstream } from "./mock-process.js";
import { establishedConnections, residentMemoryMB, sampleWhile } from "./proc-stats.js";
import { median, medianFirstByteMs } from "./ttfb.js";

/**
 * A typical small chat request; (d) sends exactly this body, so every request is a cache hit.
 * Temperature 0: the router caches only requests that do not sample.
 */
export const chatBody = {
  model: "openai/gpt-4o-mini",
  temperature: 0,
  messages: [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "Write a haiku about a gateway." },
  ],
};

/**
 * What (a)–(c) send: the same request with a number unique to each request at the end of the user's
 * message (the load generator replaces `__N__`), so the gateways' response cache misses every time.
 */
export const uniqueChatBody = {
  ...chatBody,
  messages: [chatBody.messages[0]!, { role: "user", content: `${chatBody.messages[1]!.content} __N__` }],
};

/** One scenario at one connection count and one response mode: medians over its runs. */
export interface Cell {
  readonly target: TargetName;
  readonly stream: boolean;
  readonly connections: number;
  readonly runs: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  /** Errors of all measured runs together. */
  readonly errors: number;
  readonly errorDetail: string;
  /** Responses the load generator completed, and requests the mock received meanwhile. */
  readonly completed: number;
  readonly mockReceived: number;
  /** Requests the mock received, and errors, during this cell's uncounted warm-up run. */
  readonly mockReceivedInWarmUp: number;
  readonly warmUpErrors: number;
  /** (c) only: most ESTABLISHED facade→router connections seen during the runs. */
  readonly routerConnections?: number;
}

/** Everything the gateway scenarios measured. */
export interface GatewayResult {
  readonly loadGenerator: string;
  readonly secondsPerRun: number;
  readonly cells: Cell[];
  /** Median time to first streamed byte per target, ms. */
  readonly firstByteMs: Record<TargetName, number>;
  readonly firstByteSamples: number;
  /** Resident memory after the runs per target and process, MB. */
  readonly memory: Record<TargetName, Record<string, { rss: number; peak: number }>>;
  /** Requests the mock received from (d) over the whole benchmark, priming included. */
  readonly cacheMockRequests: number;
  /** Resident memory of each gateway target's processes together after each of its load runs (warm-ups too), in order, MB. */
  readonly rssAfterEachRun: Partial<Record<TargetName, number[]>>;
}

/** Measures (a)–(d): every mode × connection count, targets taking turns run by run. */
export async function measureGateway(options: { quick: boolean; iirRoot: string }): Promise<GatewayResult> {
  const runs = options.quick ? 1 : 3;
  const seconds = options.quick ? 2 : 8;
  const mock = await startMockUpstream();
  let targets: Targets | undefined;
  try {
    targets = await startTargets(mock, { iirRoot: options.iirRoot });
    const rssLog: RssLog = new Map();
    const cacheTarget = targets.all.get("cache")!;
    const beforePriming = await mock.count();
    const primed = await fetch(cacheTarget.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(chatBody) });
    if (!primed.ok) throw new Error(`priming the cache answered ${primed.status}: ${await primed.text()}`);
    let cacheWarmUp = (await mock.count()) - beforePriming;
    // Cold processes need a few seconds of load before the JIT settles; per-cell warm-ups are too short for that.
    for (const target of targets.all.values()) {
      if (target.name === "direct") continue;
      for (const stream of [false, true]) {
        const warmUp = await loadRun(targets, mock, target, { stream, connections: 50, seconds: options.quick ? 2 : 5 }, rssLog);
        if (target.name === "cache") cacheWarmUp += warmUp.received;
      }
    }
    const cells: Cell[] = [];
    for (const stream of [false, true]) {
      for (const connections of [1, 50]) {
        cells.push(...(await measureCell(targets, mock, { stream, connections, runs, seconds, warmUpSeconds: options.quick ? 1 : 2 }, rssLog)));
      }
    }
    const samples = options.quick ? 100 : 500;
    const streamBody = (name: string) => JSON.stringify({ ...(name === "cache" ? chatBody : uniqueChatBody), stream: true });
    const firstByte = await medianFirstByteMs(new Map([...targets.all].map(([name, target]) => [name, target.url])), streamBody, samples);
    const memory = Object.fromEntries([...targets.all].map(([name, target]) => [name, Object.fromEntries([...target.processes].map(([role, iir]) => [role, residentMemoryMB(iir.pid)]))]));
    return {
      loadGenerator: loadGeneratorName(),
      secondsPerRun: seconds,
      cells,
      firstByteMs: Object.fromEntries(firstByte) as Record<TargetName, number>,
      firstByteSamples: samples,
      memory: memory as GatewayResult["memory"],
      cacheMockRequests: cacheWarmUp + cells.filter((cell) => cell.target === "cache").reduce((sum, cell) => sum + cell.mockReceived + cell.mockReceivedInWarmUp, 0),
      rssAfterEachRun: Object.fromEntries(rssLog),
    };
  } finally {
    await targets?.stop();
    await mock.stop();
  }
}

interface CellPlan {
  stream: boolean;
  connections: number;
  runs: number;
  seconds: number;
  warmUpSeconds: number;
}

async function measureCell(targets: Targets, mock: MockUpstream, plan: CellPlan, rssLog: RssLog): Promise<Cell[]> {
  const load = (target: Target, seconds: number) => loadRun(targets, mock, target, { ...plan, seconds }, rssLog);
  const warmUps = new Map<TargetName, Run>();
  for (const target of targets.all.values()) warmUps.set(target.name, await load(target, plan.warmUpSeconds));
  const results = new Map<TargetName, Run[]>(targetNames.map((name) => [name, []]));
  for (let run = 0; run < plan.runs; run++) {
    for (const target of targets.all.values()) results.get(target.name)!.push(await load(target, plan.seconds));
  }
  return targetNames.map((name) => summarize(name, plan, results.get(name)!, warmUps.get(name)!));
}

/** Resident memory after each load run, per gateway target, in the order of the runs. */
type RssLog = Map<TargetName, number[]>;

/**
 * One load run against one target, with the mock's count around it, for (c) the facade's router
 * connections, and the resident memory of the target's processes afterwards (into `rssLog`).
 */
async function loadRun(targets: Targets, mock: MockUpstream, target: Target, plan: { stream: boolean; connections: number; seconds: number }, rssLog: RssLog): Promise<Run> {
  const request = target.name === "cache" ? chatBody : uniqueChatBody;
  const body = JSON.stringify(plan.stream ? { ...request, stream: true } : request);
  const before = await mock.count();
  const { result, max } = await sampleWhile(runLoad({ url: target.url, connections: plan.connections, seconds: plan.seconds, body }), () =>
    target.name === "split" ? establishedConnections(targets.split.facadePid, targets.split.routerPort) : 0);
  // Requests the gateway was still forwarding when the load generator stopped reach the mock a moment later.
  await new Promise((resolve) => setTimeout(resolve, 200));
  if (target.processes.size > 0) {
    const rss = [...target.processes.values()].reduce((sum, iir) => sum + residentMemoryMB(iir.pid).rss, 0);
    rssLog.set(target.name, [...(rssLog.get(target.name) ?? []), rss]);
  }
  return { load: result, received: (await mock.count()) - before, connections: max };
}

interface Run {
  load: LoadResult;
  received: number;
  connections: number;
}

function summarize(target: TargetName, plan: CellPlan, runs: readonly Run[], warmUp: Run): Cell {
  const loads = runs.map((run) => run.load);
  const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0);
  return {
    target,
    stream: plan.stream,
    connections: plan.connections,
    runs: runs.length,
    requestsPerSecond: median(loads.map((load) => load.requestsPerSecond)),
    p50Ms: median(loads.map((load) => load.p50Ms)),
    p90Ms: median(loads.map((load) => load.p90Ms)),
    p99Ms: median(loads.map((load) => load.p99Ms)),
    errors: sum(loads.map((load) => load.errors)),
    errorDetail: loads.map((load) => load.errorDetail).filter((detail) => detail !== "").join("; "),
    completed: sum(loads.map((load) => load.requests)),
    mockReceived: sum(runs.map((run) => run.received)),
    mockReceivedInWarmUp: warmUp.received,
    warmUpErrors: warmUp.load.errors,
    ...(target === "split" ? { routerConnections: Math.max(...runs.map((run) => run.connections)) } : {}),
  };
}
