import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The parts of `npm run bench`, in the order they run. */
export const benchSections = ["gateway", "streams", "agent"] as const;
export type BenchSection = (typeof benchSections)[number];

/** How the slow mock streams an answer (bench/slow-upstream.ts). */
export interface SlowStreamShape {
  /** From the request's end to the response head and the first chunk. */
  readonly firstChunkMs: number;
  /** Content chunks, each an OpenAI chat.completion.chunk event in its own write; `data: [DONE]` follows. */
  readonly chunks: number;
  /** Between consecutive writes. */
  readonly gapMs: number;
}

/** What a `npm run bench` run measures, from its flags and IIR_BENCH_ROOT; read once, frozen. */
export interface BenchConfig {
  readonly quick: boolean;
  readonly sections: ReadonlySet<BenchSection>;
  /** Start the streams scenario's `iir all` with --cpu-prof and summarise where its time went. */
  readonly profile: boolean;
  /** The checkout whose bin/iir.js the gateway scenarios start (IIR_BENCH_ROOT; this one by default). */
  readonly iirRoot: string;
  /** Whether iirRoot is another checkout than this one. */
  readonly otherIirRoot: boolean;
  readonly slow: SlowStreamShape;
  /** Concurrent streams of the streams scenario's two rows; the goals of 200 and 500 apply to them. */
  readonly streamConcurrency: readonly [number, number];
  readonly streamSeconds: number;
  /** The streams scenario's proxies (direct is always measured, as the reference). */
  readonly streamTargets: ReadonlySet<string>;
  /** Extra node flags for the streams scenario's `iir all` (IIR_BENCH_NODE_ARGS, e.g. --trace-gc). */
  readonly iirNodeArguments: readonly string[];
}

const usage = "usage: npm run bench -- [--quick] [--only=gateway,streams,agent] [--profile] [--ttft-ms=200] [--chunks=100] [--gap-ms=20] [--streams=200,500] [--stream-seconds=20] [--stream-targets=bare,nginx,iir]";
const repositoryRoot = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Reads the flags and the environment; throws naming every bad one at once. */
export function loadBenchConfig(argv: readonly string[], environment: NodeJS.ProcessEnv): BenchConfig {
  const problems: string[] = [];
  const flags = new Map<string, string>();
  for (const argument of argv) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(argument);
    if (match === null) problems.push(`unexpected argument "${argument}"`);
    else flags.set(match[1]!, match[2] ?? "");
  }
  const known = new Set(["quick", "only", "profile", "ttft-ms", "chunks", "gap-ms", "streams", "stream-seconds", "stream-targets"]);
  for (const name of flags.keys()) if (!known.has(name)) problems.push(`unknown flag --${name}`);
  const quick = flags.has("quick");
  const integer = (name: string, fallback: number, minimum: number): number => {
    const text = flags.get(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (Number.isInteger(value) && value >= minimum) return value;
    problems.push(`--${name} must be a whole number ≥ ${minimum}, got "${text}"`);
    return fallback;
  };
  const only = flags.get("only")?.split(",").filter((name) => name !== "");
  for (const name of only ?? []) if (!(benchSections as readonly string[]).includes(name)) problems.push(`--only: unknown part "${name}" (one of ${benchSections.join(", ")})`);
  const streams = (flags.get("streams") ?? (quick ? "20,50" : "200,500")).split(",").map(Number);
  if (streams.length !== 2 || !streams.every((count) => Number.isInteger(count) && count >= 1)) problems.push(`--streams must be two counts, e.g. 200,500, got "${flags.get("streams")}"`);
  const proxies = ["bare", "nginx", "iir"];
  const streamTargets = (flags.get("stream-targets") ?? proxies.join(",")).split(",").filter((name) => name !== "");
  for (const name of streamTargets) if (!proxies.includes(name)) problems.push(`--stream-targets: unknown target "${name}" (one of ${proxies.join(", ")})`);
  const iirRoot = path.resolve(environment.IIR_BENCH_ROOT || repositoryRoot);
  if (!fs.existsSync(path.join(iirRoot, "bin", "iir.js"))) problems.push(`IIR_BENCH_ROOT must be a checkout with bin/iir.js, got "${iirRoot}"`);
  const config: BenchConfig = {
    quick,
    sections: new Set(only === undefined || only.length === 0 ? benchSections : benchSections.filter((name) => only.includes(name))),
    profile: flags.has("profile"),
    iirRoot,
    otherIirRoot: iirRoot !== path.resolve(repositoryRoot),
    slow: Object.freeze({ firstChunkMs: integer("ttft-ms", 200, 0), chunks: integer("chunks", 100, 1), gapMs: integer("gap-ms", 20, 0) }),
    streamConcurrency: [streams[0] ?? 1, streams[1] ?? 1],
    streamSeconds: integer("stream-seconds", quick ? 5 : 20, 1),
    streamTargets: new Set(["direct", ...streamTargets]),
    iirNodeArguments: (environment.IIR_BENCH_NODE_ARGS ?? "").split(/\s+/).filter((flag) => flag !== ""),
  };
  if (problems.length > 0) throw new Error(`${problems.join("\n")}\n${usage}`);
  return Object.freeze(config);
}
