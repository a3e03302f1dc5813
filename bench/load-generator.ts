import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { spawnTracked } from "./child-processes.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const wrkPath = "/usr/bin/wrk";

/** What one load run measured; latencies in milliseconds. */
export interface LoadResult {
  /** Completed responses (any status). */
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  /** Connect, read, write and timeout errors plus responses with status ≥ 400. */
  readonly errors: number;
  readonly errorDetail: string;
}

/** One load run: `connections` keep-alive connections POSTing `body` to `url` for `seconds`. */
export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  readonly body: string;
}

/** `wrk` when installed (it is the load generator the figures are meant for), else bench/node-load.ts. */
export function loadGeneratorName(): "wrk" | "node" {
  return fs.existsSync(wrkPath) ? "wrk" : "node";
}

let runs = 0;

/** Runs the load generator in its own process and parses its one-line JSON summary. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const seconds = String(Math.max(1, Math.round(options.seconds)));
  const [command, args] =
    loadGeneratorName() === "wrk"
      ? [wrkPath, ["-t1", `-c${options.connections}`, `-d${seconds}s`, "--timeout", "10s", "-s", path.join(here, "wrk-post.lua"), options.url]]
      : [process.execPath, ["--import", "tsx", path.join(here, "node-load.ts"), options.url, String(options.connections), seconds]];
  // Every run numbers its requests afresh: BENCH_RUN keeps them unique across runs.
  const child = spawnTracked(command, args, { env: { ...process.env, BENCH_BODY: options.body, BENCH_RUN: String(++runs) }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (text: string) => (output += text));
  child.stderr!.setEncoding("utf8").on("data", (text: string) => (output += text));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  const line = output.split("\n").find((text) => text.startsWith("BENCH_RESULT "));
  if (code !== 0 || line === undefined) throw new Error(`${command} exited ${code} without a result:\n${output}`);
  return parseSummary(line.slice("BENCH_RESULT ".length));
}

interface RawSummary {
  requests: number;
  durationUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  errors: Record<string, number>;
}

function parseSummary(json: string): LoadResult {
  const raw = JSON.parse(json) as Partial<RawSummary>;
  const numbers = [raw.requests, raw.durationUs, raw.p50Us, raw.p90Us, raw.p99Us];
  if (numbers.some((value) => typeof value !== "number") || typeof raw.errors !== "object") throw new Error(`unexpected load summary: ${json}`);
  const summary = raw as RawSummary;
  const failing = Object.entries(summary.errors).filter(([, count]) => count > 0);
  return {
    requests: summary.requests,
    requestsPerSecond: summary.requests / (summary.durationUs / 1e6),
    p50Ms: summary.p50Us / 1000,
    p90Ms: summary.p90Us / 1000,
    p99Ms: summary.p99Us / 1000,
    errors: failing.reduce((sum, [, count]) => sum + count, 0),
    errorDetail: failing.map(([kind, count]) => `${kind} ${count}`).join(", "),
  };
}
