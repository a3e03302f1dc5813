import test, { type ExecutionContext } from "ava";
import { execFile } from "node:child_process";
import https from "node:https";
import net from "node:net";
import type tls from "node:tls";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { selfSignedCertificate } from "../../../../test/support/self-signed-certificate.js";
import { Http1Pool, Http1TimeoutError, type Http1Endpoint, type Http1ResponseHead } from "./http1-pool.js";

// The upstream HTTP/1.1 client against raw TCP servers that answer with exactly the bytes each test
// scripts: framing, keep-alive, interim answers, broken answers, limits and timeouts.

/** A TCP server that reads whole requests (head and Content-Length body) and lets the test answer each. */
async function rawServer(t: ExecutionContext, answer: (socket: net.Socket, request: string, index: number) => void | Promise<void>) {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let requests = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let buffered = "";
    socket.on("data", (bytes) => {
      buffered += bytes.toString("latin1");
      for (;;) {
        const end = buffered.indexOf("\r\n\r\n");
        if (end < 0) return;
        const length = Number(/content-length: *(\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        const request = buffered.slice(0, end + 4 + length);
        buffered = buffered.slice(end + 4 + length);
        void answer(socket, request, requests++);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const port = (server.address() as net.AddressInfo).port;
  const endpoint: Http1Endpoint = { secure: false, hostname: "127.0.0.1", port, path: "/v1/chat/completions", host: `127.0.0.1:${port}` };
  return { endpoint, connections: () => connections, open: () => sockets.size, requests: () => requests };
}

/** Waits (up to 5 s, for a loaded machine) until `condition` holds. */
async function until(condition: () => boolean): Promise<boolean> {
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await sleep(10)) if (condition()) return true;
  return condition();
}

function headFor(endpoint: Http1Endpoint, body: string): string {
  return `POST ${endpoint.path} HTTP/1.1\r\nHost: ${endpoint.host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
}

interface Outcome {
  head?: Http1ResponseHead;
  body: string;
  error?: Error;
  phase?: "head" | "body";
}

/** Sends one request and collects everything the handlers were told. */
function send(pool: Http1Pool, endpoint: Http1Endpoint, body = '{"q":1}'): Promise<Outcome> {
  return new Promise((resolve) => {
    const outcome: Outcome = { body: "" };
    const chunks: Buffer[] = [];
    pool.request(endpoint, headFor(endpoint, body), body, {
      onHead: (head) => (outcome.head = head),
      onData: (bytes) => chunks.push(Buffer.from(bytes)),
      onEnd: () => resolve({ ...outcome, body: Buffer.concat(chunks).toString("utf8") }),
      onError: (error, phase) => resolve({ ...outcome, body: Buffer.concat(chunks).toString("utf8"), error, phase }),
    });
  });
}

const text = '{"answer":"héllo wörld","n":[1,2,3]}';
const framings = {
  length: `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  chunked: `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n${text.slice(0, 5)}\r\n${Buffer.byteLength(text.slice(5)).toString(16)}\r\n${text.slice(5)}\r\n0\r\nx-trailer: yes\r\n\r\n`,
  close: `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${text}`,
};

for (const [framing, response] of Object.entries(framings)) {
  test(`a ${framing}-framed answer reads the same whatever byte it is split at`, async (t) => {
    const bytes = Buffer.from(response);
    let split = 0;
    const { endpoint } = await rawServer(t, async (socket) => {
      socket.write(bytes.subarray(0, split));
      await sleep(1);
      socket.write(bytes.subarray(split));
      if (framing === "close") socket.end();
    });
    const pool = new Http1Pool({ timeoutMs: 5000 });
    t.teardown(() => pool.close());
    for (split = 1; split < bytes.length; split++) {
      const outcome = await send(pool, endpoint);
      t.is(outcome.error, undefined, `split at ${split}`);
      t.is(outcome.head?.status, 200);
      t.is(outcome.head?.headers["content-type"], "application/json");
      t.is(outcome.body, text, `split at ${split}`);
    }
  });
}

test("kept-alive connections are reused; answers with Connection: close or in HTTP/1.0 are not", async (t) => {
  let style = "keep";
  const { endpoint, connections } = await rawServer(t, (socket) => {
    const body = "{}";
    if (style === "keep") socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${body}`);
    else if (style === "close") socket.end(`HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n${body}`);
    else socket.end(`HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n${body}`);
  });
  const pool = new Http1Pool({ timeoutMs: 5000 });
  t.teardown(() => pool.close());
  for (let i = 0; i < 5; i++) t.is((await send(pool, endpoint)).body, "{}");
  t.is(connections(), 1);
  // The first of these still goes on the kept-alive connection, which its answer closes.
  style = "close";
  for (let i = 0; i < 3; i++) t.is((await send(pool, endpoint)).body, "{}");
  t.is(connections(), 3);
  style = "http10";
  for (let i = 0; i < 2; i++) t.is((await send(pool, endpoint)).body, "{}");
  t.is(connections(), 5);
});

test("interim 1xx answers are skipped; 204 has no body", async (t) => {
  let status = 200;
  const { endpoint } = await rawServer(t, (socket) => {
    if (status === 204) socket.write("HTTP/1.1 204 No Content\r\n\r\n");
    else socket.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone");
  });
  const pool = new Http1Pool({ timeoutMs: 5000 });
  t.teardown(() => pool.close());
  const outcome = await send(pool, endpoint);
  t.is(outcome.head?.status, 200);
  t.is(outcome.body, "done");
  status = 204;
  const empty = await send(pool, endpoint);
  t.is(empty.head?.status, 204);
  t.is(empty.body, "");
  t.is(empty.error, undefined);
});

test("broken answers fail their request with what is wrong, and the pool keeps serving", async (t) => {
  const broken = [
    ["SPDY/3 200 OK\r\n\r\n", /did not answer in HTTP\/1\.1/, "head"],
    ["HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", /malformed header/, "head"],
    ["HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabc", /bad Content-Length/, "head"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", /bad chunk size/, "body"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", /no line end after a chunk/, "body"],
    [`HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(70 * 1024)}\r\n\r\n`, /head over 65536 bytes/, "head"],
  ] as const;
  let index = 0;
  const { endpoint } = await rawServer(t, (socket) => {
    socket.write(index < broken.length ? broken[index]![0] : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  const pool = new Http1Pool({ timeoutMs: 5000 });
  t.teardown(() => pool.close());
  for (const [, message, phase] of broken) {
    const outcome = await send(pool, endpoint);
    t.regex(outcome.error?.message ?? "", message);
    t.is(outcome.phase, phase);
    index++;
  }
  t.is((await send(pool, endpoint)).body, "ok");
});

test("requests beyond maxSockets wait for a connection to free up, and all are answered", async (t) => {
  let busy = 0;
  let mostBusy = 0;
  const { endpoint, connections } = await rawServer(t, async (socket, request) => {
    busy++;
    mostBusy = Math.max(mostBusy, busy);
    await sleep(20);
    busy--;
    const body = request.slice(request.indexOf("\r\n\r\n") + 4);
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });
  const pool = new Http1Pool({ timeoutMs: 5000, maxSockets: 2 });
  t.teardown(() => pool.close());
  const outcomes = await Promise.all(Array.from({ length: 7 }, (_, i) => send(pool, endpoint, `{"i":${i}}`)));
  t.deepEqual(outcomes.map((outcome) => outcome.body), Array.from({ length: 7 }, (_, i) => `{"i":${i}}`));
  t.is(connections(), 2);
  t.is(mostBusy, 2);
});

test("every connection a burst opened is kept for the next burst: none is closed only to be opened again", async (t) => {
  const { endpoint, connections, open } = await rawServer(t, async (socket, request) => {
    await sleep(20);
    const body = request.slice(request.indexOf("\r\n\r\n") + 4);
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });
  const pool = new Http1Pool({ timeoutMs: 5000 });
  t.teardown(() => pool.close());
  const burst = async () => {
    const outcomes = await Promise.all(Array.from({ length: 100 }, (_, i) => send(pool, endpoint, `{"i":${i}}`)));
    t.deepEqual(outcomes.map((outcome) => outcome.body), Array.from({ length: 100 }, (_, i) => `{"i":${i}}`));
  };
  await burst();
  t.is(connections(), 100);
  await burst();
  t.is(connections(), 100, "the second burst found all 100 idle");
  t.is(open(), 100);
});

test("an idle connection the server closed is not used again; a Keep-Alive timeout hint shortens idle life", async (t) => {
  let hint = "";
  const { endpoint, connections, open } = await rawServer(t, (socket) => {
    socket.write(`HTTP/1.1 200 OK\r\n${hint}Content-Length: 2\r\n\r\nok`);
    if (hint === "") setTimeout(() => socket.end(), 10);
  });
  const pool = new Http1Pool({ timeoutMs: 5000 });
  t.teardown(() => pool.close());
  t.is((await send(pool, endpoint)).body, "ok");
  t.true(await until(() => open() === 0));
  await sleep(20);
  t.is((await send(pool, endpoint)).body, "ok");
  t.is(connections(), 2);
  t.true(await until(() => open() === 0));
  await sleep(20);
  // timeout=1: kept for one second less, that is not at all.
  hint = "Keep-Alive: timeout=1\r\n";
  t.is((await send(pool, endpoint)).body, "ok");
  t.is((await send(pool, endpoint)).body, "ok");
  t.is(connections(), 4);
});

test("silence past the timeout fails the request: before the head, and between body reads", async (t) => {
  let mode = "silent";
  const { endpoint, open } = await rawServer(t, (socket) => {
    if (mode === "partial") socket.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  });
  const pool = new Http1Pool({ timeoutMs: 150 });
  t.teardown(() => pool.close());
  const silent = await send(pool, endpoint);
  t.true(silent.error instanceof Http1TimeoutError);
  t.is(silent.phase, "head");
  mode = "partial";
  const partial = await send(pool, endpoint);
  t.true(partial.error instanceof Http1TimeoutError);
  t.is(partial.phase, "body");
  t.is(partial.body, "abc");
  t.true(await until(() => open() === 0));
});

test("a connection dropped mid-body is an ECONNRESET error after the bytes that came", async (t) => {
  const { endpoint } = await rawServer(t, (socket) => {
    socket.end("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  });
  const pool = new Http1Pool({ timeoutMs: 5000 });
  t.teardown(() => pool.close());
  const outcome = await send(pool, endpoint);
  t.is(outcome.body, "abc");
  t.is((outcome.error as { code?: string } | undefined)?.code, "ECONNRESET");
  t.is(outcome.phase, "body");
});

test("aborting mid-body closes the connection and no handler runs after", async (t) => {
  const { endpoint, open } = await rawServer(t, (socket) => {
    socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
    setTimeout(() => socket.writable && socket.write("3\r\ndef\r\n0\r\n\r\n"), 50);
  });
  const pool = new Http1Pool({ timeoutMs: 5000 });
  t.teardown(() => pool.close());
  const told: string[] = [];
  const request = pool.request(endpoint, headFor(endpoint, "{}"), "{}", {
    onHead: () => told.push("head"),
    onData: (bytes) => {
      told.push(`data ${bytes.toString()}`);
      request.abort();
    },
    onEnd: () => told.push("end"),
    onError: () => told.push("error"),
  });
  t.true(await until(() => open() === 0));
  await sleep(100);
  t.deepEqual(told, ["head", "data abc"]);
});

test("an address nobody listens on is a connection error before any head", async (t) => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  const pool = new Http1Pool({ timeoutMs: 5000 });
  t.teardown(() => pool.close());
  const outcome = await send(pool, { secure: false, hostname: "127.0.0.1", port, path: "/", host: `127.0.0.1:${port}` });
  t.is((outcome.error as { code?: string } | undefined)?.code, "ECONNREFUSED");
  t.is(outcome.phase, "head");
});

test("https upstreams: TLS with SNI to a trusted certificate works; an untrusted one is refused", async (t) => {
  const { key, cert, certPath } = selfSignedCertificate(t);
  const server = https.createServer({ key, cert }, (request, response) => {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ sni: (request.socket as tls.TLSSocket).servername, path: request.url }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const endpoint: Http1Endpoint = { secure: true, hostname: "localhost", port, path: "/v1/chat/completions", host: `localhost:${port}` };

  const pool = new Http1Pool({ timeoutMs: 5000 });
  t.teardown(() => pool.close());
  const refused = await send(pool, endpoint);
  t.regex((refused.error as { code?: string } | undefined)?.code ?? "", /SELF_SIGNED|UNABLE_TO_VERIFY/);
  t.is(refused.phase, "head");

  // A process that trusts the certificate, as a deployment trusts its providers' CAs.
  const script = `
    import { Http1Pool } from ${JSON.stringify(fileURLToPath(new URL("http1-pool.ts", import.meta.url)))};
    const endpoint = ${JSON.stringify(endpoint)};
    const pool = new Http1Pool({ timeoutMs: 5000 });
    const body = "{}";
    for (let i = 0; i < 2; i++) {
      const text = await new Promise((resolve, reject) => {
        let text = "";
        pool.request(endpoint, "POST /v1/chat/completions HTTP/1.1\\r\\nHost: " + endpoint.host + "\\r\\nContent-Length: 2\\r\\n\\r\\n", body, {
          onHead() {}, onData(bytes) { text += bytes; }, onEnd() { resolve(text); }, onError(error) { reject(error); },
        });
      });
      process.stdout.write(text + "\\n");
    }
    pool.close();
  `;
  const output = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: certPath } }, (error, stdout, stderr) =>
      error === null ? resolve(stdout) : reject(new Error(`${error.message}\n${stderr}`)),
    );
  });
  t.deepEqual(output.trim().split("\n").map((line) => JSON.parse(line)), [
    { sni: "localhost", path: "/v1/chat/completions" },
    { sni: "localhost", path: "/v1/chat/completions" },
  ]);
});
