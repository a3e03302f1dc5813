import fs from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import path from "node:path";
import { once } from "node:events";
import test, { type ExecutionContext } from "ava";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { ChatRequestSchema, Role } from "../gen/iir/inference/v1/inference_pb.js";
import { spawnIir } from "./support/iir-process.js";
import { listenOnLoopback } from "./support/loopback-server.js";
import { freePort, stopOnTeardown, temporaryDirectory } from "./support/process-fixtures.js";

// Attacks on the router's HTTP/2 port, each from a real client against `iir router` in its own
// process (so that its memory can be read): nghttp2's protections and the limits IIR adds to them.

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;
const chatStreamPath = "/iir.inference.v1.InferenceService/ChatStream";
const mebibyte = 1024 * 1024;

interface RouterProcess {
  readonly port: number;
  readonly url: string;
  /** Resident memory of the router process, in bytes. */
  rss(): number;
}

/** `iir router` in its own process on a free loopback port, with `env` added. */
async function startRouterProcess(t: ExecutionContext, env: Record<string, string> = {}): Promise<RouterProcess> {
  const directory = temporaryDirectory(t);
  const port = await freePort();
  const router = stopOnTeardown(
    t,
    spawnIir(["router"], { SQLITE_DB_PATH: path.join(directory, "iir.db"), IIR_ROUTER_PORT: String(port), LOG_LEVEL: "warn", ...env }),
  );
  await Promise.race([
    waitForPort(port),
    router.exited.then(({ code, stderr }) => {
      throw new Error(`iir router exited (${code}) before listening: ${stderr}`);
    }),
  ]);
  const pid = router.child.pid!;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN) * 1024,
  };
}

async function waitForPort(port: number): Promise<void> {
  for (let attempt = 0; attempt < 1200; attempt++) {
    const connected = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
    if (connected) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listens on port ${port} after a minute`);
}

/** Whether the router still serves an ordinary client: a new connection's health check. */
async function stillServes(url: string): Promise<boolean> {
  const health = createClient(Health, createGrpcTransport({ baseUrl: url }));
  const answer = await health.check({ service: "" }, { timeoutMs: 10_000 });
  return answer.status === HealthCheckResponse_ServingStatus.SERVING;
}

/** An HTTP/2 session that records the GOAWAY it gets and whether the server closed it. */
async function openSession(url: string, options: http2.ClientSessionOptions = {}) {
  const session = http2.connect(url, options);
  const state = { goaway: undefined as number | undefined, lastStreamId: 0, closed: false };
  session.on("goaway", (code, lastStreamId) => {
    state.goaway = code;
    state.lastStreamId = lastStreamId;
  });
  session.on("close", () => (state.closed = true));
  session.on("error", () => undefined);
  await once(session, "connect");
  return { session, state };
}

/** A gRPC request message of about `bytes` bytes, enveloped. */
function chatRequestOf(bytes: number): Uint8Array {
  const text = "a".repeat(bytes);
  const message = create(ChatRequestSchema, { params: { model: "openai/gpt-4o-mini", messages: [{ role: Role.USER, content: { case: "text", value: text } }] } });
  return encodeEnvelope(0, toBinary(ChatRequestSchema, message));
}

const grpcHeaders = { ":method": "POST", ":path": chatStreamPath, "content-type": "application/grpc", te: "trailers" };

for (const marked of [false, true]) {
  test.serial(`a client that opens and resets streams in a loop gets GOAWAY and ordinary clients keep being served${marked ? " (with IIR's old 0x4949 mark)" : ""}`, async (t) => {
    // An upstream that never answers: every stream the router takes on stays open until reset.
    const upstream = await listenOnLoopback(t, http.createServer(() => undefined));
    const router = await startRouterProcess(t, { OPENAI_BASE_URL: `${upstream.origin}/v1`, EXTERNAL_OPENAI_KEY: "sk-test", CACHE_TTL: "0" });
    const settings = marked ? { customSettings: { [0x4949]: 1 } } : {};
    const { session, state } = await openSession(router.url, { settings } as http2.ClientSessionOptions);
    const body = chatRequestOf(16);
    const resets: Record<number, number> = {};
    let opened = 0;
    // Over many reads on the server's side: batches of streams opened and reset, with turns between.
    while (opened < 20_000 && state.goaway === undefined && !state.closed && !session.destroyed) {
      for (let index = 0; index < 100 && !session.destroyed; index++) {
        const stream = session.request(grpcHeaders);
        stream.on("error", () => undefined);
        stream.on("close", () => (resets[stream.rstCode] = (resets[stream.rstCode] ?? 0) + 1));
        stream.end(body);
        stream.close(NGHTTP2_CANCEL);
        opened += 1;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.race([new Promise((resolve) => session.once("close", resolve)), new Promise((resolve) => setTimeout(resolve, 5000))]);
    if (state.goaway === undefined) {
      // Under heavy load nghttp2 may refuse the streams first and then drop the connection outright.
      t.true(state.closed && opened < 20_000, `the router dropped the client after ${opened} streams ${JSON.stringify(resets)}`);
    } else {
      // Client streams have odd ids: the last one the router took on says how many it did.
      const taken = (state.lastStreamId + 1) / 2;
      t.log(`GOAWAY (code ${state.goaway}) after the router took on ${taken} of ${opened} streams`);
      t.true(taken < 5_000, `the router took on ${taken} of the ${opened} streams before it sent the client away with GOAWAY`);
    }
    session.destroy();
    t.true(await stillServes(router.url));
  });
}

/**
 * A path to the router whose client reads nothing: the client's bytes are passed on, the router's
 * are never read, so what the router sends back piles up in its socket and then in nghttp2.
 */
async function deafProxy(t: ExecutionContext, port: number): Promise<{ url: string; closedByRouter: () => number }> {
  let closed = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(port, "127.0.0.1");
    upstream.pause();
    client.pipe(upstream);
    upstream.once("close", () => {
      closed += 1;
      client.destroy();
    });
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  const url = await listenOnLoopback(t, server);
  return { url: url.origin, closedByRouter: () => closed };
}

for (const flood of ["PING", "SETTINGS"] as const) {
  test.serial(`${flood} floods from clients that read nothing are cut off, and the router's memory stays flat`, async (t) => {
    const router = await startRouterProcess(t);
    const proxy = await deafProxy(t, router.port);
    const before = router.rss();
    const sessions = await Promise.all(
      Array.from({ length: 4 }, () => openSession(proxy.url, { maxOutstandingPings: 1_000_000, maxOutstandingSettings: 1_000_000 } as http2.ClientSessionOptions)),
    );
    let sent = 0;
    // As fast as a client can: bursts of frames whose acknowledgements the router cannot write.
    const deadline = Date.now() + 30_000;
    while (proxy.closedByRouter() < sessions.length && Date.now() < deadline) {
      for (const { session } of sessions) {
        for (let index = 0; index < 2000 && !session.destroyed; index++) {
          try {
            if (flood === "PING") session.ping(Buffer.alloc(8), () => undefined);
            else session.settings({ headerTableSize: 4096 + (index % 2) });
            sent += 1;
          } catch {
            break;
          }
        }
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const growth = router.rss() - before;
    t.log(`${sent} ${flood} frames sent; router memory ${Math.round(before / mebibyte)} → ${Math.round((before + growth) / mebibyte)} MiB`);
    for (const { session } of sessions) session.destroy();
    t.is(proxy.closedByRouter(), sessions.length, `the router closed every flooding connection (${sent} ${flood} frames sent)`);
    t.true(growth < 64 * mebibyte, `router memory grew ${Math.round(growth / mebibyte)} MiB`);
    t.true(await stillServes(router.url));
  });
}

test.serial("200 streams of 4 MiB bodies on one connection stay within the connection's buffer budget", async (t) => {
  // An upstream that never answers: every admitted call holds its request for as long as it can.
  const silent = http.createServer(() => undefined);
  const upstream = await listenOnLoopback(t, silent);
  const budget = 16 * mebibyte;
  const router = await startRouterProcess(t, {
    IIR_CONNECTION_BUFFER: String(budget),
    OPENAI_BASE_URL: `${upstream.origin}/v1`,
    EXTERNAL_OPENAI_KEY: "sk-test",
    CACHE_TTL: "0",
  });
  t.timeout(180_000);
  const before = router.rss();
  const { session } = await openSession(router.url);
  const body = chatRequestOf(4 * mebibyte - 64);
  // Each stream ends reset for the budget, or with its whole body taken by the router: the calls
  // admitted then wait on the silent upstream, holding their requests.
  const outcomes = await Promise.all(
    Array.from({ length: 200 }, () =>
      new Promise<string>((resolve) => {
        const stream = session.request(grpcHeaders);
        stream.on("error", () => undefined);
        stream.on("close", () => resolve(stream.rstCode === NGHTTP2_ENHANCE_YOUR_CALM ? "over budget" : `closed ${stream.rstCode}`));
        stream.end(body, () => resolve("admitted"));
      }),
    ),
  );
  const growth = router.rss() - before;
  const admitted = outcomes.filter((outcome) => outcome === "admitted").length;
  t.log(`${JSON.stringify(count(outcomes))}; router memory ${Math.round(before / mebibyte)} → ${Math.round((before + growth) / mebibyte)} MiB`);
  session.destroy();
  // Refused for the budget (ENHANCE_YOUR_CALM), or cancelled for taking longer than IIR_BODY_TIMEOUT to arrive.
  const refused = outcomes.filter((outcome) => outcome === "over budget" || outcome === `closed ${NGHTTP2_CANCEL}`).length;
  t.is(admitted + refused, 200, JSON.stringify(count(outcomes)));
  t.true(admitted <= budget / (4 * mebibyte) + 1, `${admitted} bodies of 4 MiB held at once within a budget of 16 MiB`);
  // Connect holds a body twice while it reads it (the chunks and the joined message), and its text once parsed.
  t.true(growth < 4 * budget + 64 * mebibyte, `router memory grew ${Math.round(growth / mebibyte)} MiB for 800 MiB sent`);
  t.true(await stillServes(router.url));
});

test.serial("connections that say nothing, sessions that open no stream and bodies that stall are closed", async (t) => {
  const router = await startRouterProcess(t, { IIR_HANDSHAKE_TIMEOUT: "2", IIR_IDLE_TIMEOUT: "1", IIR_BODY_TIMEOUT: "1" });
  const silent = await Promise.all(
    Array.from({ length: 50 }, async () => {
      const socket = net.connect(router.port, "127.0.0.1");
      socket.on("error", () => undefined);
      await once(socket, "connect");
      return once(socket, "close");
    }),
  );
  await Promise.all(silent);
  t.pass("50 connections that sent nothing were closed");

  const idle = await openSession(router.url);
  await new Promise((resolve) => idle.session.once("close", resolve));
  t.true(idle.state.closed, "a session that opened no stream was closed");
  t.not(idle.state.goaway, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, "an idle session is not an attack");

  const { session } = await openSession(router.url);
  const stream = session.request(grpcHeaders);
  stream.on("error", () => undefined);
  stream.write(chatRequestOf(1024).subarray(0, 100));
  await once(stream, "close");
  t.is(stream.rstCode, NGHTTP2_CANCEL, "a body that stopped arriving is cancelled");
  session.destroy();
  t.true(await stillServes(router.url));
});

function count(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

