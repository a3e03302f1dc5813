import http from "node:http";

/**
 * Fallback load generator for machines without wrk: `node --import tsx bench/node-load.ts URL
 * CONNECTIONS SECONDS` with the body in BENCH_BODY (a `__N__` in it becomes BENCH_RUN and a number
 * unique to each request, as in bench/wrk-post.lua). Each connection sends POSTs back to back over
 * keep-alive; it prints the same one-line summary as bench/wrk-post.lua. It is slower than wrk, so
 * on a small machine it can cap the direct figures; the report names the generator used.
 */

const [url, connectionsText, secondsText] = process.argv.slice(2);
const template = process.env.BENCH_BODY ?? "{}";
const unique = template.includes("__N__");
const run = process.env.BENCH_RUN ?? "";
let sent = 0;
const connections = Number(connectionsText);
const durationMs = Number(secondsText) * 1000;
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const latenciesUs: number[] = [];
const errors = { connect: 0, read: 0, write: 0, status: 0, timeout: 0 };

function post(): Promise<void> {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const body = Buffer.from(unique ? template.replace("__N__", `${run}-${++sent}`) : template);
    const request = http.request(url!, { method: "POST", agent, headers: { "content-type": "application/json", "content-length": body.length } }, (response) => {
      response.on("data", () => {});
      response.on("end", () => {
        latenciesUs.push(Number(process.hrtime.bigint() - started) / 1000);
        if ((response.statusCode ?? 0) >= 400) errors.status++;
        resolve();
      });
      response.on("error", () => (errors.read++, resolve()));
    });
    request.on("error", () => (errors.connect++, resolve()));
    request.end(body);
  });
}

async function connection(deadline: number): Promise<void> {
  while (Date.now() < deadline) await post();
}

async function main(): Promise<void> {
  const started = Date.now();
  await Promise.all(Array.from({ length: connections }, () => connection(started + durationMs)));
  const durationUs = (Date.now() - started) * 1000;
  latenciesUs.sort((a, b) => a - b);
  const at = (percent: number) => Math.round(latenciesUs[Math.min(latenciesUs.length - 1, Math.floor((latenciesUs.length * percent) / 100))] ?? 0);
  const summary = { requests: latenciesUs.length, durationUs, p50Us: at(50), p90Us: at(90), p99Us: at(99), maxUs: at(100), errors };
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(summary)}\n`);
  agent.destroy();
}

void main();
