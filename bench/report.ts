import type { Cell, GatewayResult } from "./gateway-scenarios.js";
import { targetLabels, targetNames, type TargetName } from "./gateway-targets.js";

/** One goal from the issue, what was measured against it, and whether it was met. */
export interface TargetCheck {
  readonly goal: string;
  readonly measured: string;
  readonly pass: boolean;
}

const mode = (stream: boolean) => (stream ? "stream" : "non-stream");
const ms = (value: number) => value.toFixed(3);

function find(result: GatewayResult, target: TargetName, stream: boolean, connections: number): Cell {
  const cell = result.cells.find((each) => each.target === target && each.stream === stream && each.connections === connections);
  if (cell === undefined) throw new Error(`no measurement for ${target} ${mode(stream)} at ${connections}`);
  return cell;
}

function ratio(result: GatewayResult, cell: Cell): number {
  return cell.requestsPerSecond / find(result, "direct", cell.stream, cell.connections).requestsPerSecond;
}

function totalRss(result: GatewayResult, target: TargetName): number {
  return Object.values(result.memory[target]).reduce((sum, memory) => sum + memory.rss, 0);
}

/** Whether the mock saw what it should: every completed request (plus at most one per connection still in flight when a run stopped), or none for cache hits. */
export function mockCountMatches(cell: Cell): boolean {
  if (cell.target === "cache") return cell.mockReceived === 0;
  const extra = cell.mockReceived - cell.completed;
  return extra >= 0 && extra <= cell.connections * cell.runs;
}

/** The share of direct's rate (50 connections, instant mock) a gateway scenario should reach. */
function goalShare(target: TargetName, stream: boolean): number {
  if (target === "split") return 0.08;
  return stream ? 0.12 : 0.2;
}

/** The goals, each checked against this run. */
export function checkTargets(result: GatewayResult): TargetCheck[] {
  const percent = (value: number) => `${(value * 100).toFixed(1)}% of direct`;
  const checks: TargetCheck[] = [];
  const atLeast = (target: TargetName, stream: boolean, share: number) => {
    const value = ratio(result, find(result, target, stream, 50));
    checks.push({ goal: `${target === "all" ? "(b)" : "(c)"} ${mode(stream)}, 50 connections: ≥ ${share * 100}% of direct req/s`, measured: percent(value), pass: value >= share });
  };
  atLeast("all", false, goalShare("all", false));
  atLeast("all", true, goalShare("all", true));
  atLeast("split", false, goalShare("split", false));
  atLeast("split", true, goalShare("split", true));
  const added = find(result, "all", false, 1).p50Ms - find(result, "direct", false, 1).p50Ms;
  checks.push({ goal: "(b) non-stream, 1 connection: added p50 ≤ 0.3 ms", measured: `+${ms(added)} ms`, pass: added <= 0.3 });
  const firstByte = result.firstByteMs.all - result.firstByteMs.direct;
  checks.push({ goal: "(b) first streamed byte ≤ 1 ms after the upstream's", measured: `+${ms(firstByte)} ms`, pass: firstByte <= 1 });
  const rss = totalRss(result, "all");
  checks.push({ goal: "(b) iir all RSS after the runs ≤ 150 MB", measured: `${rss.toFixed(1)} MB`, pass: rss <= 150 });
  const growth = rssGrowth(result.rssAfterEachRun.all ?? []);
  checks.push({
    goal: "(b) no RSS growth across repeated runs: after the last ≤ 110% of the most after the first half",
    measured: `${growth.last.toFixed(1)} MB vs ${growth.earlier.toFixed(1)} MB`,
    pass: growth.runs >= 4 && growth.last <= growth.earlier * 1.1,
  });
  const errors = result.cells.reduce((sum, cell) => sum + cell.errors, 0);
  const warmUpErrors = result.cells.reduce((sum, cell) => sum + cell.warmUpErrors, 0);
  checks.push({ goal: "no errors or status ≥ 400 in any run (warm-ups too)", measured: `${errors} (warm-ups ${warmUpErrors})`, pass: errors + warmUpErrors === 0 });
  // One connection carries every chat (facade/grpc-router-chat.ts), one Connect's other calls (health, models).
  const routerConnections = Math.max(...result.cells.map((cell) => cell.routerConnections ?? 0));
  checks.push({ goal: "(c) the h2c hop reuses its connections: ≤ 2 facade→router TCP connections under load", measured: String(routerConnections), pass: routerConnections >= 1 && routerConnections <= 2 });
  const mismatches = result.cells.filter((cell) => !mockCountMatches(cell)).length;
  checks.push({ goal: "mock request count matches the load generator's (a)–(c), 0 for (d)", measured: `${mismatches} mismatching rows`, pass: mismatches === 0 });
  checks.push({ goal: "(d) the mock answered ~1 request in all", measured: String(result.cacheMockRequests), pass: result.cacheMockRequests <= 2 });
  return checks;
}

const verdict = (pass: boolean) => (pass ? "PASS" : "FAIL");

/** The goal shown beside a row of the load table, if the row has one. */
function rowGoal(result: GatewayResult, cell: Cell): string {
  if (cell.connections === 50 && (cell.target === "all" || cell.target === "split")) {
    const share = goalShare(cell.target, cell.stream);
    return `≥ ${share * 100}%: ${verdict(ratio(result, cell) >= share)}`;
  }
  if (cell.connections === 1 && cell.target === "all" && !cell.stream) {
    return `+p50 ≤ 0.3 ms: ${verdict(cell.p50Ms - find(result, "direct", false, 1).p50Ms <= 0.3)}`;
  }
  return "";
}

/** The load table: one row per scenario, mode and connection count. */
export function loadTable(result: GatewayResult): string[] {
  const rows = result.cells.map((cell) => {
    const direct = find(result, "direct", cell.stream, cell.connections);
    const added = cell.connections === 1 && cell.target !== "direct" ? [`+${ms(cell.p50Ms - direct.p50Ms)}`, `+${ms(cell.p99Ms - direct.p99Ms)}`] : ["", ""];
    const counts = `${cell.mockReceived} / ${cell.completed} ${mockCountMatches(cell) ? "ok" : "MISMATCH"}`;
    const errors = cell.errors === 0 ? "0" : `${cell.errors} (${cell.errorDetail})`;
    return `| ${targetLabels[cell.target]} | ${mode(cell.stream)} | ${cell.connections} | ${cell.requestsPerSecond.toFixed(0)} | ${ms(cell.p50Ms)} | ${ms(cell.p90Ms)} | ${ms(cell.p99Ms)} | ${(ratio(result, cell) * 100).toFixed(1)}% | ${added.join(" | ")} | ${errors} | ${counts} | ${cell.routerConnections ?? ""} | ${rowGoal(result, cell)} |`;
  });
  return [
    "| scenario | mode | conns | req/s | p50 ms | p90 ms | p99 ms | of direct | +p50 ms | +p99 ms | errors | mock saw / completed | facade→router TCP | goal |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ...rows,
  ];
}

/**
 * RSS after the last run against the most after the first half of the runs: the heap grows to its
 * working size early (JIT warm-ups, the first cells), so what keeps growing after that is a leak.
 */
export function rssGrowth(series: readonly number[]): { runs: number; earlier: number; last: number } {
  const half = Math.ceil(series.length / 2);
  return { runs: series.length, earlier: Math.max(0, ...series.slice(0, half)), last: series.at(-1) ?? 0 };
}

/** Per scenario: time to first streamed byte and resident memory of its processes. */
export function scenarioTable(result: GatewayResult): string[] {
  const rows = targetNames.map((name) => {
    const added = name === "direct" ? "" : `+${ms(result.firstByteMs[name] - result.firstByteMs.direct)}`;
    const memory = Object.entries(result.memory[name]).map(([role, value]) => `${role} ${value.rss.toFixed(1)} (peak ${value.peak.toFixed(1)})`).join(", ");
    return `| ${targetLabels[name]} | ${ms(result.firstByteMs[name])} | ${added} | ${memory || "—"} |`;
  });
  const series = (name: TargetName) => (result.rssAfterEachRun[name] ?? []).map((rss) => rss.toFixed(0)).join(" ");
  return [
    `| scenario | first streamed byte ms (median of ${result.firstByteSamples}) | added ms | RSS after the runs MB | RSS after each of its runs MB |`,
    "|---|---:|---:|---|---|",
    ...rows.map((row, index) => `${row} ${series(targetNames[index]!) || "—"} |`),
  ];
}

/** The goals table. */
export function targetTable(checks: readonly TargetCheck[]): string[] {
  return ["| goal | measured | |", "|---|---:|---|", ...checks.map((check) => `| ${check.goal} | ${check.measured} | ${verdict(check.pass)} |`)];
}
