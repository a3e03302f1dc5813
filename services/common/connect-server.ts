import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { DescMethod } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { collectFastMethods, createGrpcFastPath } from "./grpc-fast-path.js";
import { H2ServerConnection, isIirClientPreface } from "./h2c/h2-server-connection.js";

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
  /** Methods whose gRPC calls skip Connect's handler pipeline (services/common/grpc-fast-path.ts). */
  readonly fastMethods?: readonly DescMethod[];
}

// Every HTTP/2 connection opens with this preface; anything else is HTTP/1.1.
const http2PrefaceStart = "PRI ";

/**
 * Serves Connect routes over h2c (gRPC clients, agents) and HTTP/1.1 (Connect and gRPC-Web from
 * browsers and curl) on one port by sniffing the first bytes of each connection.
 */
export async function listenConnect(options: ConnectServerOptions): Promise<ConnectServer> {
  const handler = connectNodeAdapter({ routes: options.routes, readMaxBytes: options.readMaxBytes });
  const fastMethods = collectFastMethods({ routes: options.routes, methods: options.fastMethods ?? [], readMaxBytes: options.readMaxBytes });
  const fastPath = createGrpcFastPath(fastMethods);
  const ownConnections = new Set<H2ServerConnection>();
  const http2Server = http2.createServer({}, (request, response) => {
    if (!fastPath(request, response)) handler(request, response);
  });
  const http1Server = http.createServer({ keepAliveTimeout: 65_000 }, handler);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  http2Server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  // Without Nagle's algorithm, as http.createServer accepts its own sockets: small frames and
  // answers go out as they are written instead of waiting on the peer's delayed ACK.
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    // Sniff with 'readable' + read(), never 'data': a flowing socket would hand its bytes to
    // listeners, while http2 and http read the unshifted bytes back only from a paused stream.
    let head: Buffer | undefined;
    const sniff = () => {
      const read = socket.read() as Buffer | null;
      if (read === null) return;
      const chunk = head === undefined ? read : Buffer.concat([head, read]);
      // A client may send the preface in pieces: keep a short start until it can be told apart.
      if (chunk.length < http2PrefaceStart.length && http2PrefaceStart.startsWith(chunk.toString("latin1"))) {
        head = chunk;
        return;
      }
      const isHttp2 = chunk.toString("latin1", 0, http2PrefaceStart.length) === http2PrefaceStart;
      // IIR's own client (the facade) marks its preface: its calls go to the server of our own.
      const own = isHttp2 && (options.fastMethods ?? []).length > 0 ? isIirClientPreface(chunk) : false;
      if (own === undefined) {
        head = chunk;
        return;
      }
      socket.off("readable", sniff);
      socket.unshift(chunk);
      if (own) {
        const connection = new H2ServerConnection(socket, fastMethods, { onClose: () => ownConnections.delete(connection) });
        ownConnections.add(connection);
        return;
      }
      (isHttp2 ? http2Server : http1Server).emit("connection", socket);
    };
    socket.on("readable", sniff);
    socket.on("error", () => socket.destroy());
  });
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
    close: (graceMs) => closeGracefully({ server, http1Server, sessions, ownConnections, sockets }, graceMs),
  };
}

interface Listeners {
  server: net.Server;
  http1Server: http.Server;
  sessions: Set<http2.ServerHttp2Session>;
  ownConnections: Set<H2ServerConnection>;
  sockets: Set<net.Socket>;
}

async function closeGracefully(listeners: Listeners, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => listeners.server.close(() => resolve()));
  const deadline = Date.now() + graceMs;
  while (listeners.sockets.size > 0 && Date.now() < deadline) {
    // GOAWAY lets HTTP/2 clients finish their streams; idle HTTP/1.1 keep-alive connections go at once.
    for (const session of listeners.sessions) session.close();
    for (const connection of listeners.ownConnections) connection.close();
    listeners.http1Server.closeIdleConnections();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  for (const socket of listeners.sockets) socket.destroy();
  await closed;
}
