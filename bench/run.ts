import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ThroughputResult } from "./agent-throughput.js";
import { killAllChildren } from "./child-processes.js";
import { benchSections, loadBenchConfig, type BenchConfig } from "./config.js";
import { profileTable } from "./cpu-profile.js";
import { measureGateway, type GatewayResult } from "./gateway-scenarios.js";
import { checkTargets, loadTable, scenarioTable, targetTable, type TargetCheck } from "./report.js";
import { checkStreamTargets, streamNotes, streamTable } from "./stream-report.js";
import { measureStreams, type StreamsResult } from "./stream-scenarios.js";

// `npm run bench [-- --quick] [-- --only=streams]` and the rest of config.ts's flags: measurements,
// printed as tables and written to bench/results/.
const here = path.dirname(fileURLToPath(import.meta.url));

function describeMachine(): string {
  const gib = Math.round(os.totalmem() / 2 ** 30);
  return `${os.cpus()[0]?.model ?? "cpu"} × ${os.availableParallelism()} cores, ${gib} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
}

function agentTable(agent: readonly ThroughputResult[]): string[] {
  return [
    "| (e) agent on the tiny model | in-process tokens/s | through the facade tokens/s | facade / in-process |",
    "|---|---:|---:|---:|",
    ...agent.map((row) => `| ${row.scenario} | ${row.inProcessTokensPerSecond.toFixed(0)} | ${row.facadeTokensPerSecond.toFixed(0)} | ${(row.facadeTokensPerSecond / row.inProcessTokensPerSecond).toFixed(2)} |`),
  ];
}

function title(config: BenchConfig): string {
  const only = config.sections.size < benchSections.length ? `only ${[...config.sections].join(", ")}` : "";
  const notes = [config.quick ? "quick" : "", only].filter((note) => note !== "");
  return `IIR benchmark${notes.length > 0 ? ` (${notes.join(", ")})` : ""}`;
}

function gatewaySections(gateway: GatewayResult): string[] {
  const runs = gateway.cells[0]?.runs ?? 0;
  return [
    `## Gateway overhead (${gateway.loadGenerator}, median of ${runs} run${runs === 1 ? "" : "s"} × ${gateway.secondsPerRun} s, scenarios interleaved)`,
    loadTable(gateway).join("\n"),
    "## First streamed byte and memory",
    scenarioTable(gateway).join("\n"),
  ];
}

function streamSections(streams: StreamsResult): string[] {
  const sections = [`## Slow streams (${streams.concurrency.join(" and ")} concurrent, ${streams.seconds} s each)`, [...streamTable(streams), "", ...streamNotes(streams)].join("\n")];
  if (streams.profile !== undefined) sections.push("## Where iir all's CPU time went (--profile)", profileTable(streams.profile).join("\n"));
  return sections;
}

function readConfig(): BenchConfig {
  try {
    return loadBenchConfig(process.argv.slice(2), process.env);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  const machine = describeMachine();
  const started = Date.now();
  console.log(`${title(config)} on ${machine}${config.otherIirRoot ? `\niir from ${config.iirRoot}` : ""}\n`);
  let gateway: GatewayResult | undefined;
  let streams: StreamsResult | undefined;
  const checks: TargetCheck[] = [];
  const sections: string[] = [];
  if (config.sections.has("gateway")) {
    gateway = await measureGateway({ quick: config.quick, iirRoot: config.iirRoot });
    checks.push(...checkTargets(gateway));
    sections.push(...gatewaySections(gateway));
  }
  if (config.sections.has("streams")) {
    streams = await measureStreams(config);
    checks.push(...checkStreamTargets(streams));
    sections.push(...streamSections(streams));
  }
  if (checks.length > 0) sections.push("## Goals", targetTable(checks).join("\n"));
  if (sections.length > 0) console.log(`${sections.join("\n\n")}\n`);
  let agent: ThroughputResult[] | undefined;
  if (config.sections.has("agent")) {
    // Loaded only when asked for: it brings node-llama-cpp and the agent's modules, which the other parts do not need.
    const { measureAgentThroughput } = await import("./agent-throughput.js");
    agent = await measureAgentThroughput({
      tokens: config.quick ? 256 : 1024,
      runs: config.quick ? 1 : 3,
      modelPath: path.join(here, "..", "data", "models", "iir-tiny.gguf"),
    });
    sections.push("## Agent throughput", agentTable(agent).join("\n"));
    console.log(`${agentTable(agent).join("\n")}\n`);
  }
  console.log(`took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const results = path.join(here, "results");
  fs.mkdirSync(results, { recursive: true });
  const at = new Date().toISOString();
  const { quick, profile, iirRoot } = config;
  fs.writeFileSync(path.join(results, "latest.json"), `${JSON.stringify({ machine, quick, only: [...config.sections], profile, iirRoot, at, gateway, streams, checks, agent }, null, 2)}\n`);
  fs.writeFileSync(path.join(results, "latest.md"), `# ${title(config)}\n\n${machine}, ${at}${config.otherIirRoot ? `, iir from ${iirRoot}` : ""}\n\n${sections.join("\n\n")}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  killAllChildren();
  process.exit(1);
});
