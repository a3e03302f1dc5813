import path from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchConfig, SlowStreamShape } from "./config.js";
import { findCpuProfile, summariseCpuProfile, type ProfileSummary, type TimeWindow } from "./cpu-profile.js";
import { uniqueChatBody } from "./gateway-scenarios.js";
import { startMockUpstream, type MockUpstream } from "./mock-process.js";
import { cpuSeconds, residentMemoryMB, resetPeakMemory } from "./proc-stats.js";
import type { Percentiles } from "./stream-load.js";
import { runStreamLoadProcess } from "./stream-load-process.js";
import { startStreamTargets, type StreamTarget, type StreamTargetName, type StreamTargets } from "./stream-targets.js";

const repositoryRoot = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const profileDirectory = path.join(repositoryRoot, "bench", "results", "profiles");

/** One target at one concurrency: one closed-loop run. */
export interface StreamCell {
  readonly target: StreamTargetName;
  readonly concurrency: number;
  /** Streams that answered 200 and ended with [DONE]. */
  readonly completed: number;
  readonly errors: number;
  readonly errorDetail: string;
  readonly ttftMs: Percentiles;
  readonly worstGapMs: Percentiles;
  readonly readsPerStream: number;
  /** CPU time of the target's processes during the run (undefined for direct). */
  readonly cpuSeconds: number | undefined;
  /** Their peak resident memory together, MB; during this run where the kernel could reset the peak, else since they started. */
  readonly peakRssMB: number | undefined;
  readonly peakOfRunOnly: boolean;
  readonly mockReceived: number;
  readonly wallSeconds: number;
  /** Busy share of one core of the mock and the load generator during the run: high values mean they, not the target, may set the pace. */
  readonly mockCpuShare: number;
  readonly generatorCpuShare: number;
  readonly generatorLoopDelayP99Ms: number;
  /** When the run went on, on the monotonic clock: to read the target's CPU profile over its measured runs only. */
  readonly window: TimeWindow;
}

/** Everything the streams scenario measured. */
export interface StreamsResult {
  readonly shape: SlowStreamShape;
  readonly concurrency: readonly [number, number];
  readonly seconds: number;
  readonly warmUpSeconds: number;
  readonly measured: readonly StreamTargetName[];
  readonly cells: readonly StreamCell[];
  readonly notes: readonly string[];
  readonly profile: ProfileSummary | undefined;
}

/** The streams the targets get: each distinct, so `iir all`'s response cache looks each up and misses. */
const streamBody = JSON.stringify({ ...uniqueChatBody, stream: true });

/**
 * Realistic load: long streams that trickle from the slow mock, at two concurrencies, through each
 * target in turn (direct, the bare proxy, nginx, `iir all`), after a warm-up of each proxy.
 */
export async function measureStreams(config: BenchConfig): Promise<StreamsResult> {
  const mock = await startMockUpstream({ slow: config.slow });
  const nodeArguments = [...config.iirNodeArguments, ...(config.profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDirectory}`] : [])];
  let targets: StreamTargets | undefined;
  const warmUpSeconds = config.quick ? 2 : 5;
  const cells: StreamCell[] = [];
  try {
    targets = await startStreamTargets(mock, { root: config.iirRoot, nodeArguments, only: config.streamTargets });
    const run = (target: StreamTarget, concurrency: number, seconds: number) => measureRun(mock, target, config.slow, concurrency, seconds);
    for (const target of targets.targets) if (target.name !== "direct") await run(target, config.streamConcurrency[0], warmUpSeconds);
    for (const concurrency of config.streamConcurrency) {
      for (const target of targets.targets) cells.push(await run(target, concurrency, config.streamSeconds));
    }
  } finally {
    await targets?.stop();
    await mock.stop();
  }
  const notes = [...targets.notes];
  let profile: ProfileSummary | undefined;
  if (config.profile && targets.iirPid !== undefined) {
    const file = findCpuProfile(profileDirectory, targets.iirPid);
    if (file === undefined) notes.push(`no CPU profile of iir all (pid ${targets.iirPid}) in ${profileDirectory}`);
    else profile = summariseCpuProfile(file, { root: config.iirRoot, windows: cells.filter((cell) => cell.target === "iir").map((cell) => cell.window) });
  }
  if (config.profile) notes.push("iir all ran under --cpu-prof: its figures carry the profiler's cost");
  return {
    shape: config.slow,
    concurrency: config.streamConcurrency,
    seconds: config.streamSeconds,
    warmUpSeconds,
    measured: targets.targets.map((target) => target.name),
    cells,
    notes,
    profile,
  };
}

let runs = 0;

/** One closed-loop run, with the CPU time, peak memory and mock count around it. */
async function measureRun(mock: MockUpstream, target: StreamTarget, shape: SlowStreamShape, concurrency: number, seconds: number): Promise<StreamCell> {
  const streamMs = shape.firstChunkMs + shape.chunks * shape.gapMs;
  const processes = target.processes();
  const peakOfRunOnly = processes.map(resetPeakMemory).every(Boolean);
  const cpu = () => processes.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
  const [cpuBefore, mockCpuBefore, countBefore, startUs] = [cpu(), cpuSeconds(mock.pid), await mock.count(), monotonicUs()];
  const summary = await runStreamLoadProcess({
    url: target.url,
    body: streamBody,
    run: `streams-${++runs}`,
    concurrency,
    seconds,
    spreadMs: Math.min(streamMs, (seconds * 1000) / 2),
    timeoutMs: streamMs + 30_000,
  });
  const endUs = monotonicUs();
  const wallSeconds = (endUs - startUs) / 1e6;
  const failing = Object.entries(summary.errors).filter(([, count]) => count > 0);
  return {
    target: target.name,
    concurrency,
    completed: summary.completed,
    errors: failing.reduce((sum, [, count]) => sum + count, 0),
    errorDetail: failing.map(([kind, count]) => `${kind} ${count}`).join(", "),
    ttftMs: summary.ttftMs,
    worstGapMs: summary.worstGapMs,
    readsPerStream: summary.readsPerStream,
    cpuSeconds: processes.length === 0 ? undefined : cpu() - cpuBefore,
    peakRssMB: processes.length === 0 ? undefined : processes.reduce((sum, pid) => sum + residentMemoryMB(pid).peak, 0),
    peakOfRunOnly,
    mockReceived: (await mock.count()) - countBefore,
    wallSeconds,
    mockCpuShare: (cpuSeconds(mock.pid) - mockCpuBefore) / wallSeconds,
    generatorCpuShare: summary.generatorCpuSeconds / (summary.durationMs / 1000),
    generatorLoopDelayP99Ms: summary.generatorLoopDelayP99Ms,
    window: { startUs, endUs },
  };
}
