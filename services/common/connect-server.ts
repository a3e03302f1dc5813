import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { ServerLimits, TlsFiles } from "./config.js";
import { guardHttp2Server, http2ServerOptions } from "./http2-guards.js";
import { peerContextValues } from "./peer.js";
import { protobufRecursionLimit } from "./json-depth.js";
import { answerUndecodableAsInvalidArgument } from "./undecodable-requests.js";

/** A listening Connect server: gRPC, gRPC-Web and Connect on one port. */
export interface ConnectServer {
  readonly port: number;
  /** Stops accepting, lets in-flight calls finish for up to graceMs, then cuts what is left. */
  close(graceMs: number): Promise<void>;
}

export interface ConnectServerOptions {
  readonly routes: (router: ConnectRouter) => void;
  readonly host: string;
  readonly port: number;
  /** Largest request message accepted, in bytes. */
  readonly readMaxBytes?: number;
  /** Run around every call, before the implementation (the router's API-key policy…). */
  readonly interceptors?: Interceptor[];
  /** Serve TLS (HTTP/2 and HTTP/1.1 by ALPN); with a CA, only clients with a certificate it signed. */
  readonly tls?: TlsFiles;
  readonly limits: ServerLimits;
}

// Every HTTP/2 connection opens with this preface; anything else is HTTP/1.1.
const http2PrefaceStart = "PRI ";

/**
 * Serves Connect routes through `@connectrpc/connect-node` on node:http2 (nghttp2), with its
 * protections configured (http2-guards.ts). Plain: h2c for gRPC clients and agents and HTTP/1.1 for
 * Connect and gRPC-Web from browsers and curl, told apart by a connection's first bytes. TLS: both
 * by ALPN. Every call's context carries its peer (address, loopback, trusted client certificate).
 */
export async function listenConnect(options: ConnectServerOptions): Promise<ConnectServer> {
  const handler = connectNodeAdapter({
    routes: (router) => {
      options.routes(router);
      answerUndecodableAsInvalidArgument(router);
    },
    // A Struct costs two levels per JSON level: requests nested as deep as the facade allows must decode.
    binaryOptions: { recursionLimit: protobufRecursionLimit },
    readMaxBytes: options.readMaxBytes,
    interceptors: options.interceptors,
    contextValues: peerContextValues,
  });
  const { limits } = options;
  // HTTP/1.1: the headers within the handshake timeout, the whole request within that and the body timeout.
  const http1Options: http.ServerOptions = { keepAliveTimeout: 65_000, headersTimeout: limits.handshakeTimeoutMs, requestTimeout: limits.handshakeTimeoutMs + limits.bodyTimeoutMs };
  const sockets = new Set<net.Socket>();
  let server: net.Server;
  let http1Server: http.Server | undefined;
  let http2Server: http2.Http2Server | http2.Http2SecureServer;
  if (options.tls !== undefined) {
    http2Server = http2.createSecureServer(
      {
        ...http2ServerOptions(limits),
        allowHTTP1: true,
        cert: options.tls.cert,
        key: options.tls.key,
        ca: options.tls.ca,
        // With the mesh's CA, a client must prove it belongs to the mesh.
        requestCert: options.tls.ca !== undefined,
        rejectUnauthorized: options.tls.ca !== undefined,
        handshakeTimeout: limits.handshakeTimeoutMs,
        unknownProtocolTimeout: limits.handshakeTimeoutMs,
      },
      handler,
    );
    Object.assign(http2Server, http1Options);
    http2Server.on("connection", (socket: net.Socket) => track(sockets, socket));
    // A failed handshake (no client certificate, a wrong one) is the client's problem, not ours.
    http2Server.on("tlsClientError", (_error, socket) => socket.destroy());
    server = http2Server;
  } else {
    http2Server = http2.createServer(http2ServerOptions(limits), handler);
    const plainHttp1 = http.createServer(http1Options, handler);
    http1Server = plainHttp1;
    const plainHttp2 = http2Server;
    // Without Nagle's algorithm, as http.createServer accepts its own sockets: small frames and
    // answers go out as they are written instead of waiting on the peer's delayed ACK.
    server = net.createServer({ noDelay: true }, (socket) => {
      track(sockets, socket);
      sniffProtocol(socket, limits.handshakeTimeoutMs, (isHttp2) => (isHttp2 ? plainHttp2 : plainHttp1).emit("connection", socket));
    });
  }
  const sessions = guardHttp2Server(http2Server, limits);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    close: (graceMs) => closeGracefully({ server, http1Server, http2Server, sessions, sockets }, graceMs),
  };
}

function track(sockets: Set<net.Socket>, socket: net.Socket): void {
  sockets.add(socket);
  socket.once("close", () => sockets.delete(socket));
  socket.on("error", () => socket.destroy());
}

/**
 * Waits for enough of a connection's first bytes to tell HTTP/2's preface from HTTP/1.1, then hands
 * the socket on with those bytes put back. A connection that shows nothing in time is closed.
 */
function sniffProtocol(socket: net.Socket, timeoutMs: number, handOff: (isHttp2: boolean) => void): void {
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  let head: Buffer | undefined;
  // Sniff with 'readable' + read(), never 'data': a flowing socket would hand its bytes to
  // listeners, while http2 and http read the unshifted bytes back only from a paused stream.
  const sniff = () => {
    const read = socket.read() as Buffer | null;
    if (read === null) return;
    const chunk = head === undefined ? read : Buffer.concat([head, read]);
    // A client may send the preface in pieces: keep a short start until it can be told apart.
    if (chunk.length < http2PrefaceStart.length && http2PrefaceStart.startsWith(chunk.toString("latin1"))) {
      head = chunk;
      return;
    }
    clearTimeout(timer);
    socket.off("readable", sniff);
    socket.unshift(chunk);
    handOff(chunk.toString("latin1", 0, http2PrefaceStart.length) === http2PrefaceStart);
  };
  socket.on("readable", sniff);
  socket.once("close", () => clearTimeout(timer));
}

interface Listeners {
  server: net.Server;
  http1Server: http.Server | undefined;
  http2Server: http2.Http2Server | http2.Http2SecureServer;
  sessions: Iterable<http2.ServerHttp2Session>;
  sockets: Set<net.Socket>;
}

async function closeGracefully(listeners: Listeners, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => listeners.server.close(() => resolve()));
  const deadline = Date.now() + graceMs;
  while (listeners.sockets.size > 0 && Date.now() < deadline) {
    // GOAWAY lets HTTP/2 clients finish their streams; idle HTTP/1.1 keep-alive connections go at once.
    for (const session of listeners.sessions) session.close();
    listeners.http1Server?.closeIdleConnections();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  for (const socket of listeners.sockets) socket.destroy();
  await closed;
}
