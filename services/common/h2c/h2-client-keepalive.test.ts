import net from "node:net";
import test from "ava";
import { H2ClientConnection } from "./h2-client-connection.js";
import { exchange, h2Server, listenOnLoopback, rawFrame, requestFields } from "../../../test/support/h2-test-peers.js";

// The own HTTP/2 client's keepalive: PINGs while calls are open, and a silent server given up.

test("keepalive: a server gone silent is given up after an unanswered PING; a slow but live one is kept", async (t) => {
  // Answers the client's SETTINGS once, then never says another word.
  const silent = net.createServer((socket) => {
    socket.once("data", () => socket.write(rawFrame(4, 0, 0, Buffer.alloc(0))));
    socket.on("error", () => undefined);
  });
  const silentUrl = await listenOnLoopback(t, silent);
  let unusable = 0;
  const dead = new H2ClientConnection(silentUrl, { keepaliveMs: 100, onUnusable: () => unusable++ });
  t.teardown(() => dead.destroy());
  const started = performance.now();
  const failure = await exchange(dead, requestFields(silentUrl, "/")).closed;
  const waited = performance.now() - started;
  t.is(failure?.kind, "connection");
  t.regex((failure as { error: Error }).error.message, /did not answer a PING within 0.1 s/);
  t.true(waited >= 190 && waited < 2000, `gave up after ${waited} ms`);
  t.false(dead.usable);
  t.is(unusable, 1);

  // A server that answers after 6 keepalive periods: its PING answers keep the connection, one
  // PING per period of silence.
  let pings = 0;
  const { url, server: slow } = await h2Server(t, (stream) => setTimeout(() => stream.respond({ ":status": 200 }, { endStream: true }), 600));
  slow.on("session", (session) => session.on("ping", () => pings++));
  const live = new H2ClientConnection(url, { keepaliveMs: 100 });
  t.teardown(() => live.destroy());
  t.is(await exchange(live, requestFields(url, "/")).closed, undefined);
  t.true(live.usable);
  t.true(pings >= 3 && pings <= 7, `${pings} PINGs`);
});

test("keepalive: a call on a connection silent for a while sends a PING at once", async (t) => {
  const pings: number[] = [];
  const { url, server } = await h2Server(t, (stream) => stream.respond({ ":status": 204 }, { endStream: true }));
  server.on("session", (session) => session.on("ping", () => pings.push(performance.now())));
  const connection = new H2ClientConnection(url, { keepaliveMs: 150 });
  t.teardown(() => connection.destroy());
  t.is(await exchange(connection, requestFields(url, "/")).closed, undefined);
  t.is(pings.length, 0);
  // Idle past the keepalive: no PING while no call is open, then one with the next call.
  await new Promise((resolve) => setTimeout(resolve, 400));
  t.is(pings.length, 0);
  const started = performance.now();
  t.is(await exchange(connection, requestFields(url, "/")).closed, undefined);
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.is(pings.length, 1);
  t.true(pings[0]! - started < 100, `PING ${pings[0]! - started} ms after the call started`);
});

test("keepalive: the PING sent at once for a call after a long silence gets a whole period to be answered", async (t) => {
  const { url: serverUrl } = await h2Server(t, (stream) => stream.respond({ ":status": 204 }, { endStream: true }));
  // Between client and server, a link whose answers can be made slow (but well within the keepalive).
  let answerDelayMs = 0;
  const link = net.createServer((client) => {
    const server = net.connect(Number(serverUrl.port), "127.0.0.1");
    client.pipe(server);
    server.on("data", (bytes) => setTimeout(() => client.destroyed || client.write(bytes), answerDelayMs));
    for (const socket of [client, server]) socket.on("error", () => undefined);
    client.on("close", () => server.destroy());
  });
  const url = await listenOnLoopback(t, link);
  const connection = new H2ClientConnection(url, { keepaliveMs: 150 });
  t.teardown(() => connection.destroy());
  t.is(await exchange(connection, requestFields(url, "/")).closed, undefined);
  // Silent for far longer than two periods; then a call, answered (with its PING) 100 ms later.
  await new Promise((resolve) => setTimeout(resolve, 500));
  answerDelayMs = 100;
  t.is(await exchange(connection, requestFields(url, "/")).closed, undefined);
  t.true(connection.usable);
});
