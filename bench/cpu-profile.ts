import fs from "node:fs";
import path from "node:path";

/** One function's self time in a CPU profile. */
export interface ProfileEntry {
  readonly functionName: string;
  /** Where it is: a path relative to the checkout, `node:…`, or empty for V8's own entries. */
  readonly location: string;
  readonly selfMs: number;
  /** Share of the time the process was not idle. */
  readonly share: number;
}

/** A stretch of time on the monotonic clock (process.hrtime, which V8's profiles use too), µs. */
export interface TimeWindow {
  readonly startUs: number;
  readonly endUs: number;
}

/** The top of a profile by self time. */
export interface ProfileSummary {
  readonly file: string;
  /** The time the summary covers: the windows' within the profile, or all of it. */
  readonly profiledMs: number;
  readonly windowed: boolean;
  readonly idleShare: number;
  readonly top: readonly ProfileEntry[];
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

function parseProfile(text: string, file: string): CpuProfile {
  const profile = JSON.parse(text) as Partial<CpuProfile>;
  if (!Array.isArray(profile.nodes) || typeof profile.startTime !== "number" || typeof profile.endTime !== "number") throw new Error(`${file} is not a V8 CPU profile`);
  return profile as CpuProfile;
}

/** The profile `node --cpu-prof` wrote for process `pid` in `directory` (CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile), if any. */
export function findCpuProfile(directory: string, pid: number): string | undefined {
  if (!fs.existsSync(directory)) return undefined;
  const name = fs.readdirSync(directory).filter((entry) => entry.endsWith(".cpuprofile") && entry.split(".")[3] === String(pid)).sort().at(-1);
  return name === undefined ? undefined : path.join(directory, name);
}

/**
 * Samples per node: those taken within `windows` where given (each sample's time is the profile's
 * start plus the time deltas up to it), else each node's hitCount.
 */
function hitsPerNode(profile: CpuProfile, windows: readonly TimeWindow[] | undefined): Map<number, number> {
  const hits = new Map<number, number>();
  const { samples, timeDeltas } = profile;
  if (windows === undefined || samples === undefined || timeDeltas === undefined) {
    for (const node of profile.nodes) hits.set(node.id, node.hitCount ?? 0);
    return hits;
  }
  let time = profile.startTime;
  for (const [index, id] of samples.entries()) {
    time += timeDeltas[index] ?? 0;
    if (windows.some((window) => time >= window.startUs && time < window.endUs)) hits.set(id, (hits.get(id) ?? 0) + 1);
  }
  return hits;
}

/**
 * Sums the profile's samples by function name and location, only those taken within `windows` when
 * given (the measured runs, leaving out start-up and warm-ups), and returns the `count` functions
 * with the most self time. A sample lasts (end − start) / all samples on average.
 */
export function summariseCpuProfile(file: string, options: { root: string; windows?: readonly TimeWindow[]; count?: number }): ProfileSummary {
  const profile = parseProfile(fs.readFileSync(file, "utf8"), file);
  const perNode = hitsPerNode(profile, options.windows);
  const allSamples = profile.samples?.length ?? profile.nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0);
  const hits = new Map<string, { functionName: string; location: string; hits: number }>();
  let total = 0;
  let idle = 0;
  for (const node of profile.nodes) {
    const hitCount = perNode.get(node.id) ?? 0;
    total += hitCount;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") idle += hitCount;
    const location = url === "" ? "" : `${url.replace(`file://${options.root}/`, "")}:${lineNumber + 1}`;
    const key = `${functionName}\u0000${location}`;
    const entry = hits.get(key) ?? { functionName: functionName || "(anonymous)", location, hits: 0 };
    entry.hits += hitCount;
    hits.set(key, entry);
  }
  const sampleMs = allSamples === 0 ? 0 : (profile.endTime - profile.startTime) / 1000 / allSamples;
  const busy = Math.max(1, total - idle);
  const top = [...hits.values()]
    .filter((entry) => entry.functionName !== "(idle)")
    .sort((a, b) => b.hits - a.hits)
    .slice(0, options.count ?? 25)
    .map((entry) => ({ functionName: entry.functionName, location: entry.location, selfMs: entry.hits * sampleMs, share: entry.hits / busy }));
  return { file, profiledMs: total * sampleMs, windowed: options.windows !== undefined, idleShare: total === 0 ? 0 : idle / total, top };
}

/** The summary as a table. */
export function profileTable(summary: ProfileSummary): string[] {
  return [
    `${summary.file}: ${(summary.profiledMs / 1000).toFixed(1)} s ${summary.windowed ? "of measured runs" : "profiled"}, ${(summary.idleShare * 100).toFixed(0)}% of it idle; the top ${summary.top.length} functions by self time:`,
    "",
    "| function | where | self ms | of busy time |",
    "|---|---|---:|---:|",
    ...summary.top.map((entry) => `| ${entry.functionName} | ${entry.location || "—"} | ${entry.selfMs.toFixed(0)} | ${(entry.share * 100).toFixed(1)}% |`),
  ];
}
