import http2 from "node:http2";
import net from "node:net";
import { once } from "node:events";
import test from "ava";
import { h2ErrorCodes } from "./frames.js";
import { H2ClientConnection } from "./h2-client-connection.js";
import { encodeHeaderBlock, type HeaderPair } from "./hpack.js";
import { connect, exchange, h2Server, requestFields } from "../../../test/support/h2-test-peers.js";

// The own HTTP/2 client against node:http2's server (nghttp2), which is what it talks to in the
// mesh: header blocks both ways, flow control, concurrency, resets, GOAWAY, failed connections.

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
  // A port that was free a moment ago: nothing listens there now.
  const server = net.createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = new URL(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  await new Promise((resolve) => server.close(resolve));
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
