import http2 from "node:http2";
import net from "node:net";
import { once } from "node:events";
import type { ExecutionContext } from "ava";
import { H2ClientConnection } from "../../services/common/h2c/h2-client-connection.js";
import type { H2ClientStream, StreamFailure } from "../../services/common/h2c/h2-client-stream.js";
import { encodeHeaderBlock, type HeaderPair } from "../../services/common/h2c/hpack.js";

// Peers and helpers for the tests of the own HTTP/2 client (services/common/h2c): node:http2's
// server (nghttp2), which is what it talks to in the mesh, and raw sockets for frames nghttp2 does
// not send on its own.

/** Listens on a free loopback port, closed (its connections too) after the test; the server's URL. */
export async function listenOnLoopback(t: ExecutionContext, server: net.Server, scheme = "http", host = "127.0.0.1"): Promise<URL> {
  const sockets = new Set<net.Socket>();
  server.on("connection", (socket: net.Socket) => sockets.add(socket));
  server.on("secureConnection", (socket: net.Socket) => sockets.add(socket));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return new URL(`${scheme}://${host}:${(server.address() as net.AddressInfo).port}`);
}

/** A node:http2 server on loopback, closed after the test. */
export async function h2Server(t: ExecutionContext, onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void, settings?: http2.Settings) {
  const server = http2.createServer({ settings });
  server.on("stream", (stream, headers) => {
    // A stream the client resets errors on the server's side; the tests read rstCode instead.
    stream.on("error", () => undefined);
    onStream(stream, headers);
  });
  const sockets = new Set<net.Socket>();
  server.on("connection", (socket: net.Socket) => sockets.add(socket));
  return { url: await listenOnLoopback(t, server), sockets, server };
}

export function connect(t: ExecutionContext, url: URL): H2ClientConnection {
  const connection = new H2ClientConnection(url);
  t.teardown(() => connection.destroy());
  return connection;
}

export interface Exchange {
  stream: H2ClientStream;
  blocks: Array<{ fields: HeaderPair[]; endStream: boolean }>;
  data: Buffer[];
  /** Settles when the stream closes, with how it ended. */
  closed: Promise<StreamFailure | undefined>;
}

export const requestFields = (url: URL, path: string, extra: HeaderPair[] = []): Buffer =>
  encodeHeaderBlock([[":method", "POST"], [":scheme", "http"], [":path", path], [":authority", url.host], ...extra]);

export function exchange(connection: H2ClientConnection, headerBlock: Buffer, body: Buffer = Buffer.alloc(0)): Exchange {
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

/** A raw TCP server: `answer` takes over each connection once the first request's HEADERS arrive. */
export async function rawServer(t: ExecutionContext, answer: (socket: net.Socket, received: Buffer) => void) {
  const server = net.createServer((socket) => {
    let received = Buffer.alloc(0);
    let answered = false;
    socket.on("data", (chunk) => {
      received = Buffer.concat([received, chunk]);
      // The preface (24), then our SETTINGS and WINDOW_UPDATE, then the request's HEADERS.
      if (!answered && received.includes(Buffer.from([0x01, 0x05, 0, 0, 0, 1]))) {
        answered = true;
        answer(socket, received);
      }
    });
    socket.on("error", () => undefined);
  });
  return listenOnLoopback(t, server);
}

export function rawFrame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}
