import path from "node:path";
import { fileURLToPath } from "node:url";
import { spawnTracked } from "./child-processes.js";
import type { StreamLoadPlan, StreamLoadSummary } from "./stream-load.js";

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "stream-load.ts");

/** Runs bench/stream-load.ts in a process of its own, so it never shares a core's event loop with the harness, and parses its summary. */
export async function runStreamLoadProcess(plan: StreamLoadPlan): Promise<StreamLoadSummary> {
  const child = spawnTracked(process.execPath, ["--import", "tsx", script, JSON.stringify(plan)], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (text: string) => (output += text));
  child.stderr!.setEncoding("utf8").on("data", (text: string) => (output += text));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  const line = output.split("\n").find((text) => text.startsWith("BENCH_RESULT "));
  if (code !== 0 || line === undefined) throw new Error(`the stream load generator exited ${code} without a result:\n${output}`);
  const summary = JSON.parse(line.slice("BENCH_RESULT ".length)) as Partial<StreamLoadSummary>;
  if (typeof summary.completed !== "number" || typeof summary.errors !== "object" || typeof summary.ttftMs !== "object" || typeof summary.worstGapMs !== "object") {
    throw new Error(`unexpected stream load summary: ${line}`);
  }
  return summary as StreamLoadSummary;
}
