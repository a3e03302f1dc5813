import http from "node:http";

/**
 * Time to first streamed byte: from the moment a streamed chat request is sent to the moment the
 * first byte of the response body arrives, over one keep-alive connection, requests one after
 * another. Measured beside the load runs because wrk only sees whole responses.
 */
export async function firstByteMs(url: string, body: string, agent: http.Agent): Promise<number> {
  const payload = Buffer.from(body);
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let firstByte: bigint | undefined;
    const request = http.request(url, { method: "POST", agent, headers: { "content-type": "application/json", "content-length": payload.length } }, (response) => {
      if (response.statusCode !== 200) reject(new Error(`${url} answered ${response.statusCode}`));
      response.on("data", () => (firstByte ??= process.hrtime.bigint()));
      response.on("end", () => (firstByte === undefined ? reject(new Error(`${url} sent an empty stream`)) : resolve(Number(firstByte - started) / 1e6)));
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end(payload);
  });
}

/**
 * Median time to first byte of each target, `count` requests each after one uncounted block. The
 * targets take turns block by block — `block` requests to one target back to back, then the next
 * target — so drift hits all of them alike, while no target sits idle between its own requests, as
 * in wrk's runs at 1 connection. (Alternating request by request left each process idle for a
 * millisecond or more before each of its requests, and on this VM any process, the mock too, answers
 * 0.5–1 ms later after even 1 ms idle: that measured the machine's wake-ups, not the gateway.) Each
 * target sends the body `bodyFor` gives it, with a `__N__` in it replaced by a number unique to the
 * request.
 */
export async function medianFirstByteMs(targets: ReadonlyMap<string, string>, bodyFor: (name: string) => string, count: number, block = 25): Promise<Map<string, number>> {
  const agents = new Map([...targets.keys()].map((name) => [name, new http.Agent({ keepAlive: true, maxSockets: 1 })]));
  const samples = new Map<string, number[]>([...targets.keys()].map((name) => [name, []]));
  // Round 0 is the warm-up block; the rounds after it take `count` samples per target.
  const blocks = [block, ...Array.from({ length: Math.ceil(count / block) }, (_, index) => Math.min(block, count - index * block))];
  let sent = 0;
  try {
    for (const [round, size] of blocks.entries()) {
      for (const [name, url] of targets) {
        for (let index = 0; index < size; index++) {
          const ms = await firstByteMs(url, bodyFor(name).replace("__N__", `ttfb-${++sent}`), agents.get(name)!);
          if (round > 0) samples.get(name)!.push(ms);
        }
      }
    }
  } finally {
    for (const agent of agents.values()) agent.destroy();
  }
  return new Map([...samples].map(([name, values]) => [name, median(values)]));
}

/** The middle value (the upper middle of an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
