import http2 from "node:http2";
import https from "node:https";
import test from "ava";
import { h2ErrorCodes } from "./frames.js";
import { H2ClientConnection } from "./h2-client-connection.js";
import { encodeHeaderBlock } from "./hpack.js";
import { connect, exchange, listenOnLoopback, rawFrame, rawServer, requestFields } from "../../../test/support/h2-test-peers.js";
import { selfSignedCertificate } from "../../../test/support/self-signed-certificate.js";

// The own HTTP/2 client against frames nghttp2 does not send on its own (a raw socket plays the
// server), and over TLS.

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
  const { key, cert } = selfSignedCertificate(t);
  const credentials = { key, cert };
  const secure = http2.createSecureServer(credentials, (request, response) => response.end(`over ${request.httpVersion}, SNI ${(request.socket as unknown as { servername: string }).servername}`));
  const url = await listenOnLoopback(t, secure, "https", "localhost");

  const trusting = new H2ClientConnection(url, { tls: { ca: credentials.cert } });
  t.teardown(() => trusting.destroy());
  const call = exchange(trusting, encodeHeaderBlock([[":method", "GET"], [":scheme", "https"], [":path", "/"], [":authority", url.host]]));
  t.is(await call.closed, undefined);
  t.is(Buffer.concat(call.data).toString(), "over 2.0, SNI localhost");

  const untrusted = exchange(connect(t, url), requestFields(url, "/"));
  t.regex(((await untrusted.closed) as { error: NodeJS.ErrnoException }).error.code ?? "", /SELF_SIGNED|UNABLE_TO_VERIFY/);

  const http1Only = await listenOnLoopback(t, https.createServer(credentials, (_request, response) => response.end()), "https", "localhost");
  const withoutH2 = new H2ClientConnection(http1Only, { tls: { ca: credentials.cert } });
  t.teardown(() => withoutH2.destroy());
  const refused = await exchange(withoutH2, requestFields(http1Only, "/")).closed;
  t.is(refused?.kind, "connection");
  // Node's TLS server refuses the handshake (no protocol in common); one that ignores ALPN gets a GOAWAY.
  t.regex((refused as { error: Error }).error.message, /no application protocol|did not agree to HTTP\/2/);
});
