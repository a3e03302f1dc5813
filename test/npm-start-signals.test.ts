import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import test from "ava";
import { temporaryDirectory } from "./support/process-fixtures.js";

// `npm start` as a process manager or a terminal runs it: SIGTERM to npm must reach the server, which
// drains and exits, leaving nothing behind. npm forwards SIGTERM only to its direct child, the shell
// running the script; without `exec` that shell dies and the server goes on as an orphan.

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
// Failure deadlines, not timings: start-up may be slow on a loaded machine; after SIGTERM the server
// has IIR_SHUTDOWN_GRACE (5 s here) and nothing in flight.
const startupGiveUpMs = 90_000;
const exitGiveUpMs = 30_000;

/** Whether a process exists and is not a zombie (an exited child not yet reaped counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Every process below `pid` (Linux /proc). */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      const listed = fs.readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
      if (listed !== "") children.push(...listed.split(/\s+/).map(Number));
    }
  } catch {
    return [];
  }
  children = [...new Set(children)];
  return [...children, ...children.flatMap(descendants)];
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

async function until(what: () => string, giveUpMs: number, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + giveUpMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test("SIGTERM to `npm start` stops the server: it drains, exits, and no orphan keeps the port", async (t) => {
  if (process.platform !== "linux") {
    t.log("needs Linux /proc to find the server process under npm");
    t.pass();
    return;
  }
  t.timeout(startupGiveUpMs + exitGiveUpMs + 30_000);
  const directory = temporaryDirectory(t);
  // --ignore-scripts skips prestart (the build, which `npm test` has done) so this test never
  // rewrites dist/ under other tests; `npm start` still runs the start script itself.
  const npm = spawn("npm", ["start", "--ignore-scripts"], {
    cwd: root,
    env: {
      ...process.env,
      IIR_HOST: "127.0.0.1",
      IIR_FACADE_PORT: "0",
      IIR_ROUTER_PORT: "0",
      IIR_AGENT_ENABLED: "false",
      SQLITE_DB_PATH: path.join(directory, "iir.db"),
      LOG_LEVEL: "info",
      CACHE_TTL: "0",
      IIR_SHUTDOWN_GRACE: "5",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let server: number[] = [];
  t.teardown(() => {
    for (const pid of [npm.pid!, ...server, ...descendants(npm.pid!)]) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
  let output = "";
  npm.stdout.setEncoding("utf8").on("data", (text: string) => (output += text));
  npm.stderr.setEncoding("utf8").on("data", (text: string) => (output += text));
  const npmExited = new Promise<void>((resolve) => npm.once("exit", () => resolve()));

  await until(() => `"iir started" from npm start; output: ${output.slice(-2000)}`, startupGiveUpMs, () => output.includes('"msg":"iir started"'));
  const started = JSON.parse(output.split("\n").find((line) => line.includes('"msg":"iir started"'))!) as { facade: string };
  const facadePort = Number(new URL(started.facade).port);
  t.is((await fetch(`http://127.0.0.1:${facadePort}/ready`)).status, 200);
  server = descendants(npm.pid!);
  t.true(server.length > 0, "npm runs the server in a child process");

  npm.kill("SIGTERM");
  await npmExited;
  await until(() => `every process npm started has exited (left: ${server.filter(alive).join(", ")}); output: ${output.slice(-2000)}`, exitGiveUpMs, () => !server.some(alive));
  t.false(await accepts(facadePort), "nothing listens on the facade's port any more");
  t.regex(output, /"msg":"shutting down"[^\n]*"signal":"SIGTERM"|"signal":"SIGTERM"[^\n]*"msg":"shutting down"/, "the server itself got SIGTERM and drained");
  t.regex(output, /"msg":"stopped"/, "and stopped cleanly");
});
