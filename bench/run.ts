import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { measureAgentThroughput } from "./agent-throughput.js";

// `npm run bench [-- --quick]`: measurements, printed as tables and written to bench/results/.
const quick = process.argv.includes("--quick");
const here = path.dirname(fileURLToPath(import.meta.url));

async function main(): Promise<void> {
  const machine = `${os.cpus()[0]?.model ?? "cpu"} × ${os.availableParallelism()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  console.log(`IIR benchmark${quick ? " (quick)" : ""} on ${machine}\n`);
  const agent = await measureAgentThroughput({
    tokens: quick ? 256 : 1024,
    runs: quick ? 1 : 3,
    modelPath: path.join(here, "..", "data", "models", "iir-tiny.gguf"),
  });
  const lines = [
    "| agent on the tiny model | in-process tokens/s | through the facade tokens/s | facade / in-process |",
    "|---|---:|---:|---:|",
    ...agent.map((row) => `| ${row.scenario} | ${row.inProcessTokensPerSecond.toFixed(0)} | ${row.facadeTokensPerSecond.toFixed(0)} | ${(row.facadeTokensPerSecond / row.inProcessTokensPerSecond).toFixed(2)} |`),
  ];
  console.log(lines.join("\n"));
  const results = path.join(here, "results");
  fs.mkdirSync(results, { recursive: true });
  fs.writeFileSync(path.join(results, "latest.json"), `${JSON.stringify({ machine, quick, at: new Date().toISOString(), agent }, null, 2)}\n`);
  fs.writeFileSync(path.join(results, "latest.md"), `# IIR benchmark\n\n${machine}\n\n${lines.join("\n")}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
