import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../test/support/process-fixtures.js";

const binary = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "bin", "iir.js");

/** `iir all` in its own process on free loopback ports, so the load generator never shares its CPU time. */
export async function startIirProcess(env: Record<string, string>): Promise<{ facadeUrl: string; pid: number; stop(): Promise<void> }> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "iir-bench-"));
  const facadePort = await freePort();
  const child = spawn(process.execPath, [binary, "all"], {
    env: {
      ...process.env,
      IIR_HOST: "127.0.0.1",
      IIR_FACADE_PORT: String(facadePort),
      IIR_ROUTER_PORT: String(await freePort()),
      IIR_AGENT_PORT: String(await freePort()),
      SQLITE_DB_PATH: path.join(directory, "iir.db"),
      LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const facadeUrl = `http://127.0.0.1:${facadePort}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`iir all exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${facadeUrl}/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error("iir all did not become ready within 60 s");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    facadeUrl,
    pid: child.pid!,
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

