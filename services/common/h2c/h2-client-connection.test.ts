import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import test, { type ExecutionContext } from "ava";
import { H2ClientConnection, h2ErrorCodes, type H2ClientStream, type StreamFailure } from "./h2-client-connection.js";
import { encodeHeaderBlock, type HeaderPair } from "./hpack.js";

// The own HTTP/2 client against node:http2's server (nghttp2), which is what it talks to in the
// mesh, and against a raw socket for frames nghttp2 does not send on its own.

/** A node:http2 server on loopback, closed after the test. */
async function h2Server(t: ExecutionContext, onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void, settings?: http2.Settings) {
  const server = http2.createServer({ settings });
  server.on("stream", (stream, headers) => {
    // A stream the client resets errors on the server's side; the tests read rstCode instead.
    stream.on("error", () => undefined);
    onStream(stream, headers);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const sockets = new Set<net.Socket>();
  server.on("connection", (socket: net.Socket) => sockets.add(socket));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { url: new URL(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`), sockets };
}

function connect(t: ExecutionContext, url: URL): H2ClientConnection {
  const connection = new H2ClientConnection(url);
  t.teardown(() => connection.destroy());
  return connection;
}

interface Exchange {
  stream: H2ClientStream;
  blocks: Array<{ fields: HeaderPair[]; endStream: boolean }>;
  data: Buffer[];
  /** Settles when the stream closes, with how it ended. */
  closed: Promise<StreamFailure | undefined>;
}

const requestFields = (url: URL, path: string, extra: HeaderPair[] = []): Buffer =>
  encodeHeaderBlock([[":method", "POST"], [":scheme", "http"], [":path", path], [":authority", url.host], ...extra]);

function exchange(connection: H2ClientConnection, headerBlock: Buffer, body: Buffer = Buffer.alloc(0)): Exchange {
  const blocks: Exchange["blocks"] = [];
  const data: Buffer[] = [];
  let close!: (failure: StreamFailure | undefined) => void;
  const closed = new Promise<StreamFailure | undefined>((resolve) => (close = resolve));
  const stream = connection.request(headerBlock, body, {
    onHeaders: (fields, endStream) => blocks.push({ fields, endStream }),
    onData: (chunk) => data.push(Buffer.from(chunk)),
    onClose: close,
  });
  return { stream, blocks, data, closed };
}

const regular = (fields: HeaderPair[]) => fields.filter(([name]) => !name.startsWith(":"));

test("response headers and trailers from nghttp2 decode as sent, across a dynamic table that fills and evicts", async (t) => {
  // Every printable byte, tab and Latin-1 byte: each has its own Huffman code. nghttp2 codes a string
  // only when that makes it shorter, so the long-coded Latin-1 bytes go a few at a time among short ones.
  const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("").trim();
  const latin1 = Array.from({ length: 128 }, (_, i) => String.fromCharCode(128 + i)).join("");
  const sentFor = (n: number): HeaderPair[] => [
    ["content-type", "application/grpc"],
    ["x-constant", "the same every time"],
    ["x-counter", String(n)],
    ["x-printable", `${printable}\t${n}`],
    ["x-latin1", `${"e".repeat(30)}${latin1.slice((n * 4) % 128, ((n * 4) % 128) + 4)}`],
    ["x-long", "v".repeat(200 + n * 37)],
    [`x-name-${n % 7}`, `value ${n}`],
  ];
  const trailersFor = (n: number): HeaderPair[] => [["grpc-status", "0"], ["grpc-message", `done ${n} ${printable}`]];
  const { url } = await h2Server(t, (stream, headers) => {
    const n = Number(headers["x-n"]);
    stream.respond({ ":status": 200, ...Object.fromEntries(sentFor(n)) }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers(Object.fromEntries(trailersFor(n))));
    stream.end("body");
  });
  const connection = connect(t, url);
  // Sequential, so the server's table grows (and evicts: the long values overflow 4096 bytes) in a known order.
  for (let n = 0; n < 60; n++) {
    const call = exchange(connection, requestFields(url, "/", [["x-n", String(n)]]));
    t.is(await call.closed, undefined);
    t.is(call.blocks.length, 2);
    t.deepEqual(call.blocks[0]!.fields[0], [":status", "200"]);
    t.deepEqual(regular(call.blocks[0]!.fields).filter(([name]) => name !== "date"), sentFor(n));
    t.false(call.blocks[0]!.endStream);
    t.deepEqual(call.blocks[1], { fields: trailersFor(n), endStream: true });
    t.is(Buffer.concat(call.data).toString(), "body");
  }
});

test("request headers reach nghttp2 as encoded, a block over one frame in CONTINUATION frames", async (t) => {
  const seen: http2.IncomingHttpHeaders[] = [];
  const { url } = await h2Server(
    t,
    (stream, headers) => {
      seen.push(headers);
      stream.respond({ ":status": 204 }, { endStream: true });
    },
    { maxHeaderListSize: 1 << 20 },
  );
  const connection = connect(t, url);
  const big = "b".repeat(40_000);
  const call = exchange(connection, requestFields(url, "/path?q=1", [["cache-control", "no-cache"], ["x-big", big], ["x-latin1", "caf\u00e9"], ["authorization", "Bearer t"]]));
  t.is(await call.closed, undefined);
  t.deepEqual(call.blocks[0]!.fields[0], [":status", "204"]);
  t.true(call.blocks[0]!.endStream);
  t.is(seen[0]![":path"], "/path?q=1");
  t.is(seen[0]![":method"], "POST");
  t.is(seen[0]!["cache-control"], "no-cache");
  t.is(seen[0]!["x-big"], big);
  t.is(seen[0]!["x-latin1"], "caf\u00e9");
  t.is(seen[0]!.authorization, "Bearer t");
});

test("headers HTTP/2 cannot carry are refused before anything is sent", (t) => {
  t.throws(() => encodeHeaderBlock([["x-bad", "a\r\nb"]]), { instanceOf: TypeError });
  t.throws(() => encodeHeaderBlock([["X-Upper", "a"]]), { instanceOf: TypeError });
  t.throws(() => encodeHeaderBlock([["x-wide", "\u2192"]]), { instanceOf: TypeError });
  t.throws(() => encodeHeaderBlock([["bad name", "a"]]), { instanceOf: TypeError });
});

test("a body larger than the server's windows goes out as credit comes back, and a response larger than ours comes in whole", async (t) => {
  const { url } = await h2Server(t, (stream) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      const body = Buffer.concat(chunks);
      stream.respond({ ":status": 200 });
      // The body three times over: 3 MiB, over ten times the client's stream window.
      stream.write(body);
      stream.write(body);
      stream.end(body);
    });
  });
  const connection = connect(t, url);
  const body = Buffer.alloc(1 << 20);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7919) & 0xff;
  const calls = [exchange(connection, requestFields(url, "/echo"), body), exchange(connection, requestFields(url, "/echo"), body)];
  for (const call of calls) {
    t.is(await call.closed, undefined);
    t.true(Buffer.concat(call.data).equals(Buffer.concat([body, body, body])));
  }
});

test("a paused stream holds the server back at the stream window until resumed", async (t) => {
  let written = 0;
  const { url } = await h2Server(t, (stream) => {
    stream.respond({ ":status": 200 });
    const chunk = Buffer.alloc(16_384, 1);
    const pump = () => {
      while (written < 2 << 20) {
        written += chunk.length;
        if (!stream.write(chunk)) return void stream.once("drain", pump);
      }
      stream.end();
    };
    pump();
  });
  const connection = connect(t, url);
  const call = exchange(connection, requestFields(url, "/"));
  call.stream.pause();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const received = Buffer.concat(call.data).length;
  t.true(received <= 256 * 1024, `received ${received} while paused`);
  t.true(received > 0);
  call.stream.resume();
  t.is(await call.closed, undefined);
  t.is(Buffer.concat(call.data).length, 2 << 20);
});

test("streams beyond the server's concurrency limit wait their turn", async (t) => {
  let open = 0;
  let most = 0;
  const { url } = await h2Server(
    t,
    (stream) => {
      most = Math.max(most, ++open);
      setTimeout(() => {
        open--;
        stream.respond({ ":status": 200 }, { endStream: true });
      }, 10);
    },
    { maxConcurrentStreams: 2 },
  );
  const connection = connect(t, url);
  // Let the server's SETTINGS arrive first.
  t.is(await exchange(connection, requestFields(url, "/")).closed, undefined);
  most = 0;
  const calls = Array.from({ length: 10 }, () => exchange(connection, requestFields(url, "/")));
  t.deepEqual(await Promise.all(calls.map((call) => call.closed)), Array(10).fill(undefined));
  t.is(most, 2);
});

test("cancel resets the stream: the server sees CANCEL, the handler hears the reset", async (t) => {
  const { url } = await h2Server(t, (stream) => {
    stream.respond({ ":status": 200 });
    stream.write("first");
    stream.on("close", () => resetSeen(stream.rstCode));
  });
  let resetSeen!: (code: number) => void;
  const serverSaw = new Promise<number>((resolve) => (resetSeen = resolve));
  const connection = connect(t, url);
  const call = exchange(connection, requestFields(url, "/"));
  while (call.data.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  call.stream.cancel();
  t.deepEqual(await call.closed, { kind: "reset", code: h2ErrorCodes.cancel });
  t.is(await serverSaw, http2.constants.NGHTTP2_CANCEL);
  // The connection goes on serving.
  t.true(connection.usable);
});

test("the server's RST_STREAM reaches the handler with its code", async (t) => {
  const { url } = await h2Server(t, (stream) => {
    stream.on("error", () => undefined);
    stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  });
  const call = exchange(connect(t, url), requestFields(url, "/"));
  t.deepEqual(await call.closed, { kind: "reset", code: h2ErrorCodes.enhanceYourCalm });
});

test("after GOAWAY the streams the server never processed are reported so, and the connection takes no more", async (t) => {
  let first = 0;
  const { url } = await h2Server(t, (stream) => {
    if (first === 0) {
      first = stream.id!;
      stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, first);
      setTimeout(() => stream.respond({ ":status": 200 }, { endStream: true }), 20);
    }
  });
  let unusable = 0;
  const connection = new H2ClientConnection(url, { onUnusable: () => unusable++ });
  t.teardown(() => connection.destroy());
  const calls = [exchange(connection, requestFields(url, "/")), exchange(connection, requestFields(url, "/")), exchange(connection, requestFields(url, "/"))];
  const [done, ...rest] = await Promise.all(calls.map((call) => call.closed));
  t.is(done, undefined);
  for (const failure of rest) t.is(failure?.kind, "unprocessed");
  t.false(connection.usable);
  t.is(unusable, 1);
  t.throws(() => exchange(connection, requestFields(url, "/")));
});

test("a refused connection fails its streams with the socket's error", async (t) => {
  const server = net.createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  server.close();
  await once(server, "close");
  const url = new URL(`http://127.0.0.1:${port}`);
  const call = exchange(connect(t, url), requestFields(url, "/"));
  const failure = await call.closed;
  t.is(failure?.kind, "connection");
  t.is((failure as { error: NodeJS.ErrnoException }).error.code, "ECONNREFUSED");
});

test("a server that drops the connection fails the streams open on it", async (t) => {
  const { url, sockets } = await h2Server(t, (stream) => {
    stream.respond({ ":status": 200 });
    stream.write("partial");
  });
  const connection = connect(t, url);
  const call = exchange(connection, requestFields(url, "/"));
  while (call.data.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  for (const socket of sockets) socket.destroy();
  t.is((await call.closed)?.kind, "connection");
  t.false(connection.usable);
});

/** A raw TCP server that reads the client's preface and answers with `frames` once the first request arrives. */
async function rawServer(t: ExecutionContext, answer: (socket: net.Socket, received: Buffer) => void) {
  const server = net.createServer((socket) => {
    let received = Buffer.alloc(0);
    let answered = false;
    socket.on("data", (chunk) => {
      received = Buffer.concat([received, chunk]);
      // The preface (24), then our SETTINGS and WINDOW_UPDATE, then the request's HEADERS.
      if (!answered && received.includes(Buffer.from([0x01, 0x05, 0, 0, 0, 1])) ) {
        answered = true;
        answer(socket, received);
      }
    });
    socket.on("error", () => undefined);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.teardown(() => server.close());
  return new URL(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
}

function rawFrame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

test("PING is answered; informational answers, padding, priority and CONTINUATION from the server are understood", async (t) => {
  let pingAck: Buffer | undefined;
  const url = await rawServer(t, (socket) => {
    socket.on("data", (chunk: Buffer) => {
      const at = chunk.indexOf(Buffer.from([0x06, 0x01, 0, 0, 0, 0]));
      if (at >= 3) pingAck = chunk.subarray(at + 6, at + 14);
    });
    const status = (code: string) => encodeHeaderBlock([[":status", code]]);
    const trailer = encodeHeaderBlock([["grpc-status", "0"], ["x-split", "across two frames"]]);
    socket.write(
      Buffer.concat([
        rawFrame(4, 0, 0, Buffer.alloc(0)),
        rawFrame(6, 0, 0, Buffer.from("pingpong")),
        // 103 Early Hints, to be skipped.
        rawFrame(1, 0x4, 1, status("103")),
        // HEADERS with priority (5 bytes) and padding (pad length 3).
        rawFrame(1, 0x4 | 0x8 | 0x20, 1, Buffer.concat([Buffer.from([3]), Buffer.alloc(5), status("200"), Buffer.alloc(3)])),
        // Padded DATA.
        rawFrame(0, 0x8, 1, Buffer.concat([Buffer.from([2]), Buffer.from("hello"), Buffer.alloc(2)])),
        // Trailers in HEADERS + CONTINUATION, ending the stream.
        rawFrame(1, 0x1, 1, trailer.subarray(0, 5)),
        rawFrame(9, 0x4, 1, trailer.subarray(5)),
      ]),
    );
  });
  const call = exchange(connect(t, url), requestFields(url, "/"));
  t.is(await call.closed, undefined);
  t.deepEqual(call.blocks, [
    { fields: [[":status", "200"]], endStream: false },
    { fields: [["grpc-status", "0"], ["x-split", "across two frames"]], endStream: true },
  ]);
  t.is(Buffer.concat(call.data).toString(), "hello");
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(pingAck?.toString(), "pingpong");
});

test("a header block that does not decode is a connection error: GOAWAY COMPRESSION_ERROR, streams failed", async (t) => {
  let goaway: Buffer | undefined;
  const url = await rawServer(t, (socket) => {
    socket.on("data", (chunk: Buffer) => {
      const at = chunk.indexOf(Buffer.from([0x07, 0x00, 0, 0, 0, 0]));
      if (at >= 3) goaway = chunk.subarray(at + 6);
    });
    // Index 70: beyond the static table, and the dynamic table is empty.
    socket.write(Buffer.concat([rawFrame(4, 0, 0, Buffer.alloc(0)), rawFrame(1, 0x4, 1, Buffer.from([0x80 | 70]))]));
  });
  const connection = connect(t, url);
  const call = exchange(connection, requestFields(url, "/"));
  const failure = await call.closed;
  t.is(failure?.kind, "connection");
  t.regex((failure as { error: Error }).error.message, /index 70/);
  t.false(connection.usable);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(goaway?.readUInt32BE(4), h2ErrorCodes.compressionError);
});

test("https: h2 over TLS with a trusted certificate; an untrusted one, or a server without h2, fails the stream", async (t) => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "iir-h2-tls-"));
  t.teardown(() => fs.rmSync(directory, { recursive: true, force: true }));
  const cert = path.join(directory, "cert.pem");
  const key = path.join(directory, "key.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"], { stdio: "ignore" });
  const credentials = { key: fs.readFileSync(key), cert: fs.readFileSync(cert) };
  const listen = async (server: net.Server) => {
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    t.teardown(() => server.close());
    return new URL(`https://localhost:${(server.address() as net.AddressInfo).port}`);
  };
  const secure = http2.createSecureServer(credentials, (request, response) => response.end(`over ${request.httpVersion}, SNI ${(request.socket as unknown as { servername: string }).servername}`));
  const url = await listen(secure);

  const trusting = new H2ClientConnection(url, { tls: { ca: credentials.cert } });
  t.teardown(() => trusting.destroy());
  const call = exchange(trusting, encodeHeaderBlock([[":method", "GET"], [":scheme", "https"], [":path", "/"], [":authority", url.host]]));
  t.is(await call.closed, undefined);
  t.is(Buffer.concat(call.data).toString(), "over 2.0, SNI localhost");

  const untrusted = exchange(connect(t, url), requestFields(url, "/"));
  t.regex(((await untrusted.closed) as { error: NodeJS.ErrnoException }).error.code ?? "", /SELF_SIGNED|UNABLE_TO_VERIFY/);

  const http1Only = await listen(https.createServer(credentials, (_request, response) => response.end()));
  const withoutH2 = new H2ClientConnection(http1Only, { tls: { ca: credentials.cert } });
  t.teardown(() => withoutH2.destroy());
  const refused = await exchange(withoutH2, requestFields(http1Only, "/")).closed;
  t.is(refused?.kind, "connection");
  // Node's TLS server refuses the handshake (no protocol in common); one that ignores ALPN gets a GOAWAY.
  t.regex((refused as { error: Error }).error.message, /no application protocol|did not agree to HTTP\/2/);
});

test("keepalive: a server gone silent is given up after an unanswered PING; a slow but live one is kept", async (t) => {
  // Answers the client's SETTINGS once, then never says another word.
  const silent = net.createServer((socket) => {
    socket.once("data", () => socket.write(rawFrame(4, 0, 0, Buffer.alloc(0))));
    socket.on("error", () => undefined);
  });
  silent.listen(0, "127.0.0.1");
  await once(silent, "listening");
  t.teardown(() => silent.close());
  const silentUrl = new URL(`http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`);
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
  const slow = http2.createServer();
  slow.on("session", (session) => session.on("ping", () => pings++));
  slow.on("stream", (stream) => setTimeout(() => stream.respond({ ":status": 200 }, { endStream: true }), 600));
  slow.listen(0, "127.0.0.1");
  await once(slow, "listening");
  t.teardown(() => slow.close());
  const url = new URL(`http://127.0.0.1:${(slow.address() as net.AddressInfo).port}`);
  const live = new H2ClientConnection(url, { keepaliveMs: 100 });
  t.teardown(() => live.destroy());
  t.is(await exchange(live, requestFields(url, "/")).closed, undefined);
  t.true(live.usable);
  t.true(pings >= 3 && pings <= 7, `${pings} PINGs`);
});

test("keepalive: a call on a connection silent for a while sends a PING at once", async (t) => {
  const pings: number[] = [];
  const server = http2.createServer();
  server.on("session", (session) => session.on("ping", () => pings.push(performance.now())));
  server.on("stream", (stream) => stream.respond({ ":status": 204 }, { endStream: true }));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.teardown(() => server.close());
  const url = new URL(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
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
