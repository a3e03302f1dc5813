import type { TargetCheck } from "./report.js";
import type { StreamCell, StreamsResult } from "./stream-scenarios.js";
import { streamTargetLabels, type StreamTargetName } from "./stream-targets.js";

const ms = (value: number) => value.toFixed(1);
const signed = (value: number) => `${value >= 0 ? "+" : "−"}${ms(Math.abs(value))}`;

function find(result: StreamsResult, target: StreamTargetName, concurrency: number): StreamCell | undefined {
  return result.cells.find((cell) => cell.target === target && cell.concurrency === concurrency);
}

/** CPU seconds of the target's processes per 1,000 completed streams. */
export function cpuPerThousand(cell: StreamCell): number {
  return cell.cpuSeconds === undefined ? Number.NaN : (cell.cpuSeconds * 1000) / Math.max(1, cell.completed);
}

/** A value, and what it added over the same concurrency straight to the mock. */
function withAdded(value: number, direct: number | undefined, target: StreamTargetName): string {
  return target === "direct" || direct === undefined ? ms(value) : `${ms(value)} (${signed(value - direct)})`;
}

/** The streams table: one row per concurrency and target. */
export function streamTable(result: StreamsResult): string[] {
  const rows = result.cells.map((cell) => {
    const direct = find(result, "direct", cell.concurrency);
    const errors = cell.errors === 0 ? "0" : `${cell.errors} (${cell.errorDetail})`;
    const cpu = cell.cpuSeconds === undefined ? "—" : `${cpuPerThousand(cell).toFixed(2)} (${cell.cpuSeconds.toFixed(1)} s)`;
    const rss = cell.peakRssMB === undefined ? "—" : `${cell.peakRssMB.toFixed(1)}${cell.peakOfRunOnly ? "" : "*"}`;
    const pace = `${(cell.generatorCpuShare * 100).toFixed(0)}% / ${ms(cell.generatorLoopDelayP99Ms)} ms; mock ${(cell.mockCpuShare * 100).toFixed(0)}%`;
    return `| ${cell.concurrency} | ${streamTargetLabels[cell.target]} | ${cell.completed} | ${errors} | ${cell.mockReceived} | ${withAdded(cell.ttftMs.p50, direct?.ttftMs.p50, cell.target)} | ${withAdded(cell.ttftMs.p99, direct?.ttftMs.p99, cell.target)} | ${withAdded(cell.worstGapMs.p99, direct?.worstGapMs.p99, cell.target)} | ${cell.readsPerStream.toFixed(1)} | ${cpu} | ${rss} | ${pace} |`;
  });
  return [
    "| streams | target | completed | errors | mock saw | TTFT p50 ms (added) | TTFT p99 ms (added) | worst chunk gap p99 ms (added) | reads per stream | CPU s per 1,000 streams (in all) | peak RSS MB | load generator CPU / loop delay p99; mock CPU |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ...rows,
  ];
}

/** What the table measured, in words, and anything left out. */
export function streamNotes(result: StreamsResult): string[] {
  const shape = `${result.shape.firstChunkMs} ms to the first chunk, then ${result.shape.chunks} chunks ${result.shape.gapMs} ms apart and [DONE]`;
  return [
    `Slow mock: ${shape}. Closed loop for ${result.seconds} s per row (streams open at the end run to their end and count), after a ${result.warmUpSeconds} s warm-up of each proxy; targets take turns. TTFT: from the send to the first read with content; worst chunk gap: per stream, the longest wait between two reads of its body, then its p99 over the streams. CPU and memory: the target's processes only; * marks a peak since start, not of this row alone.`,
    ...laggingGenerator(result),
    ...(result.concurrency[0] === 200 && result.concurrency[1] === 500 ? [] : [`Note: the goals were set for 200 and 500 streams; here they are checked at ${result.concurrency.join(" and ")}.`]),
    ...result.notes.map((note) => `Note: ${note}.`),
  ];
}

/** Beyond this the load generator's own event loop, not the target, may make the tails. */
const generatorLagLimitMs = 5;

function laggingGenerator(result: StreamsResult): string[] {
  const rows = result.cells.filter((cell) => cell.generatorLoopDelayP99Ms > generatorLagLimitMs).map((cell) => `${cell.concurrency} ${streamTargetLabels[cell.target]}`);
  if (rows.length === 0) return [];
  return [`Note: the load generator's event loop lagged more than ${generatorLagLimitMs} ms at p99 in ${rows.join("; ")}: those rows' TTFT and gap tails include its own delays (a busy machine, or too little CPU for it).`];
}

/** The goals for the streams scenario, each checked against this run. */
export function checkStreamTargets(result: StreamsResult): TargetCheck[] {
  const [low, high] = result.concurrency;
  const checks: TargetCheck[] = [];
  const check = (concurrency: number, goal: string, measure: (iir: StreamCell, direct: StreamCell, bare: StreamCell) => { measured: string; pass: boolean }) => {
    const [iir, direct, bare] = (["iir", "direct", "bare"] as const).map((name) => find(result, name, concurrency));
    const label = `iir all, ${concurrency} concurrent slow streams: ${goal}`;
    if (iir === undefined || direct === undefined || bare === undefined) checks.push({ goal: label, measured: "not measured", pass: false });
    else checks.push({ goal: label, ...measure(iir, direct, bare) });
  };
  const noErrors = (iir: StreamCell) => ({ measured: iir.errors === 0 ? "0" : `${iir.errors} (${iir.errorDetail})`, pass: iir.errors === 0 && iir.completed > 0 });
  check(low, "0 errors", noErrors);
  check(low, "added TTFT p99 ≤ 10 ms", (iir, direct) => added(iir.ttftMs.p99 - direct.ttftMs.p99, 10));
  check(low, "added worst chunk gap p99 ≤ 10 ms", (iir, direct) => added(iir.worstGapMs.p99 - direct.worstGapMs.p99, 10));
  check(low, "CPU per 1,000 streams ≤ 1.3× the bare Node proxy's", (iir, _, bare) => {
    const ratio = cpuPerThousand(iir) / cpuPerThousand(bare);
    return { measured: `${cpuPerThousand(iir).toFixed(2)} s vs ${cpuPerThousand(bare).toFixed(2)} s: ${ratio.toFixed(2)}×`, pass: ratio <= 1.3 };
  });
  check(high, "0 errors", noErrors);
  check(high, "completed ≥ 95% of the bare proxy's", (iir, _, bare) => {
    const share = iir.completed / Math.max(1, bare.completed);
    return { measured: `${iir.completed} of ${bare.completed}: ${(share * 100).toFixed(1)}%`, pass: share >= 0.95 };
  });
  check(high, "TTFT p50 within 20 ms of direct", (iir, direct) => {
    const difference = iir.ttftMs.p50 - direct.ttftMs.p50;
    return { measured: `${signed(difference)} ms`, pass: Math.abs(difference) <= 20 };
  });
  check(high, "peak RSS ≤ 200 MB", (iir) => ({ measured: `${iir.peakRssMB?.toFixed(1)} MB${iir.peakOfRunOnly ? "" : " (since start)"}`, pass: (iir.peakRssMB ?? Number.POSITIVE_INFINITY) <= 200 }));
  return checks;
}

function added(value: number, limit: number): { measured: string; pass: boolean } {
  return { measured: `${signed(value)} ms`, pass: value <= limit };
}
