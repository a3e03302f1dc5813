import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { measureAgentThroughput, type ThroughputResult } from "./agent-throughput.js";
import { killAllChildren } from "./child-processes.js";
import { measureGateway } from "./gateway-scenarios.js";
import { checkTargets, loadTable, scenarioTable, targetTable } from "./report.js";

// `npm run bench [-- --quick]`: measurements, printed as tables and written to bench/results/.
const quick = process.argv.includes("--quick");
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

async function main(): Promise<void> {
  const machine = describeMachine();
  const started = Date.now();
  console.log(`IIR benchmark${quick ? " (quick)" : ""} on ${machine}\n`);
  const gateway = await measureGateway({ quick });
  const checks = checkTargets(gateway);
  const runs = gateway.cells[0]?.runs ?? 0;
  const sections = [
    `## Gateway overhead (${gateway.loadGenerator}, median of ${runs} run${runs === 1 ? "" : "s"} × ${gateway.secondsPerRun} s, scenarios interleaved)`,
    loadTable(gateway).join("\n"),
    "## First streamed byte and memory",
    scenarioTable(gateway).join("\n"),
    "## Goals",
    targetTable(checks).join("\n"),
  ];
  console.log(`${sections.join("\n\n")}\n`);
  const agent = await measureAgentThroughput({
    tokens: quick ? 256 : 1024,
    runs: quick ? 1 : 3,
    modelPath: path.join(here, "..", "data", "models", "iir-tiny.gguf"),
  });
  sections.push("## Agent throughput", agentTable(agent).join("\n"));
  console.log(`${agentTable(agent).join("\n")}\n\ntook ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const results = path.join(here, "results");
  fs.mkdirSync(results, { recursive: true });
  const at = new Date().toISOString();
  fs.writeFileSync(path.join(results, "latest.json"), `${JSON.stringify({ machine, quick, at, gateway, checks, agent }, null, 2)}\n`);
  fs.writeFileSync(path.join(results, "latest.md"), `# IIR benchmark${quick ? " (quick)" : ""}\n\n${machine}, ${at}\n\n${sections.join("\n\n")}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  killAllChildren();
  process.exit(1);
});
