import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { ExecutionContext } from "ava";
import type { IirProcess } from "./iir-process.js";

/** Asks the OS for a loopback port that is free right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A fresh directory removed when the test ends. */
export function temporaryDirectory(t: ExecutionContext, prefix = "iir-test-"): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(directory, { recursive: true, force: true }));
  return directory;
}

/** Kills the process when the test ends, whatever happened. */
export function stopOnTeardown(t: ExecutionContext, process: IirProcess): IirProcess {
  t.teardown(() => process.kill("SIGKILL"));
  return process;
}
