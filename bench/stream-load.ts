import http from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { pathToFileURL } from "node:url";

/**
 * The streams scenario's load generator, run in its own process (bench/stream-load-process.ts):
 * `node --import tsx bench/stream-load.ts '<StreamLoadPlan as JSON>'`. Closed loop: each of
 * `concurrency` workers POSTs a streamed chat request and starts the next as soon as its stream
 * ends, until `seconds` have passed; the streams then open run to their end and count. Worker i
 * starts i × `spreadMs` / concurrency after the first, so the streams' chunks do not all fall due
 * in the same millisecond. Per stream it times, from the request's send: the first read holding
 * non-empty content (TTFT), and the longest wait between two consecutive reads of the body. It
 * prints one line, `BENCH_RESULT {…}`, that stream-load-process.ts parses.
 */

/** What to run; a `__N__` in `body` becomes a number unique to each stream (`run` keeps it unique across runs). */
export interface StreamLoadPlan {
  readonly url: string;
  readonly body: string;
  readonly run: string;
  readonly concurrency: number;
  readonly seconds: number;
  readonly spreadMs: number;
  /** A stream still open this long after its send is cut off and counts as a timeout. */
  readonly timeoutMs: number;
}

/** Milliseconds at the 50th, 90th and 99th percentile and the most, over all streams that ended well. */
export interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** What stream-load.ts prints. */
export interface StreamLoadSummary {
  /** Streams that answered 200 and ended with `data: [DONE]`. */
  readonly completed: number;
  readonly errors: { connect: number; status: number; incomplete: number; timeout: number };
  readonly durationMs: number;
  readonly ttftMs: Percentiles;
  readonly worstGapMs: Percentiles;
  /** Reads of the response body per completed stream, on average. */
  readonly readsPerStream: number;
  /** The generator's own CPU time, and its event loop's delay: high values mean it, not the target, set the pace. */
  readonly generatorCpuSeconds: number;
  readonly generatorLoopDelayP99Ms: number;
}

const contentMarker = Buffer.from('"content":"');
const doneMarker = Buffer.from("data: [DONE]");

/** Whether a read holds a `"content":"…"` with at least one character. */
function hasContent(read: Buffer): boolean {
  for (let at = read.indexOf(contentMarker); at !== -1; at = read.indexOf(contentMarker, at + 1)) {
    if (read[at + contentMarker.length] !== 0x22) return true;
  }
  return false;
}

function percentiles(values: number[]): Percentiles {
  values.sort((a, b) => a - b);
  const at = (percent: number) => values[Math.min(values.length - 1, Math.floor((values.length * percent) / 100))] ?? Number.NaN;
  return { p50: at(50), p90: at(90), p99: at(99), max: values.at(-1) ?? Number.NaN };
}

type ErrorKind = keyof StreamLoadSummary["errors"];

/** How one stream went: its timings, or why it failed. */
type StreamOutcome = { readonly ttftMs: number; readonly worstGapMs: number; readonly reads: number } | { readonly error: ErrorKind };

/**
 * Sends one streamed request and times its body's reads. It succeeds when the answer is a 200 with
 * content that ends with `data: [DONE]` (looked for in the last two reads, as it may straddle them).
 */
function timeStream(options: http.RequestOptions, body: Buffer, timeoutMs: number): Promise<StreamOutcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    let [firstContent, last, worstGap, reads] = [0, 0, 0, 0];
    let previous: Buffer | undefined;
    let latest: Buffer | undefined;
    let responded = false;
    let settled = false;
    const settle = (outcome: StreamOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const request = http.request(options, (response) => {
      responded = true;
      if (response.statusCode !== 200) {
        response.resume().once("close", () => settle({ error: "status" }));
        return;
      }
      response.on("data", (read: Buffer) => {
        const now = performance.now();
        if (reads++ > 0) worstGap = Math.max(worstGap, now - last);
        last = now;
        if (firstContent === 0 && hasContent(read)) firstContent = now;
        previous = latest;
        latest = read;
      });
      response.once("end", () => {
        const tail = previous === undefined || latest === undefined ? latest : Buffer.concat([previous, latest]);
        if (firstContent === 0 || tail === undefined || !tail.includes(doneMarker)) settle({ error: "incomplete" });
        else settle({ ttftMs: firstContent - started, worstGapMs: worstGap, reads });
      });
      // A connection closed mid-stream ends in 'error' and 'close' without 'end'.
      response.once("error", () => settle({ error: "incomplete" }));
      response.once("close", () => settle({ error: "incomplete" }));
    });
    const timer = setTimeout(() => (settle({ error: "timeout" }), request.destroy()), timeoutMs);
    request.once("error", () => settle({ error: responded ? "incomplete" : "connect" }));
    request.end(body);
  });
}

/** Runs the plan and summarises it. */
export async function runStreamLoad(plan: StreamLoadPlan): Promise<StreamLoadSummary> {
  const target = new URL(plan.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: plan.concurrency });
  const ttfts: number[] = [];
  const worstGaps: number[] = [];
  const errors = { connect: 0, status: 0, incomplete: 0, timeout: 0 };
  let reads = 0;
  let sent = 0;
  const stream = async () => {
    const body = Buffer.from(plan.body.replace("__N__", `${plan.run}-${++sent}`));
    const headers = { "content-type": "application/json", "content-length": body.length };
    const outcome = await timeStream({ host: target.hostname, port: target.port, path: target.pathname, method: "POST", agent, headers }, body, plan.timeoutMs);
    if ("error" in outcome) {
      errors[outcome.error]++;
      return;
    }
    ttfts.push(outcome.ttftMs);
    worstGaps.push(outcome.worstGapMs);
    reads += outcome.reads;
  };
  const resolutionMs = 10;
  const loopDelay = monitorEventLoopDelay({ resolution: resolutionMs });
  loopDelay.enable();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const worker = async (index: number) => {
    await new Promise((resolve) => setTimeout(resolve, (index * plan.spreadMs) / plan.concurrency));
    while (performance.now() < started + plan.seconds * 1000) await stream();
  };
  await Promise.all(Array.from({ length: plan.concurrency }, (_, index) => worker(index)));
  const durationMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  loopDelay.disable();
  agent.destroy();
  return {
    completed: ttfts.length,
    errors,
    durationMs,
    ttftMs: percentiles(ttfts),
    worstGapMs: percentiles(worstGaps),
    readsPerStream: reads / Math.max(1, ttfts.length),
    generatorCpuSeconds: (used.user + used.system) / 1e6,
    // The histogram holds the whole time between its timer's turns, the resolution included.
    generatorLoopDelayP99Ms: Math.max(0, loopDelay.percentile(99) / 1e6 - resolutionMs),
  };
}

function parsePlan(json: string): StreamLoadPlan {
  const plan = JSON.parse(json) as Partial<Record<keyof StreamLoadPlan, unknown>>;
  const numbers = [plan.concurrency, plan.seconds, plan.spreadMs, plan.timeoutMs];
  if (typeof plan.url !== "string" || typeof plan.body !== "string" || typeof plan.run !== "string" || !numbers.every((value) => typeof value === "number" && value >= 0)) {
    throw new Error(`unexpected stream load plan: ${json}`);
  }
  return plan as StreamLoadPlan;
}

// Run directly: the plan is the one argument.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  Promise.resolve(process.argv[2] ?? "").then(parsePlan).then(runStreamLoad).then(
    (summary) => process.stdout.write(`BENCH_RESULT ${JSON.stringify(summary)}\n`),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
