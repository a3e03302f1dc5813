import net from "node:net";
import tls from "node:tls";
import { Connection, type ConnectionExchange, type ConnectionOwner, type Http1ResponseHead } from "./http1-connection.js";

export { Http1TimeoutError, type Http1ResponseHead } from "./http1-connection.js";

/**
 * A small HTTP/1.1 client for the upstream hot path: kept-alive connections pooled per host, each
 * request written in one write, and each response parsed on the connection's own `data` listener
 * and handed to the caller's handlers — no ClientRequest, IncomingMessage or stream objects per
 * request. It speaks what the chat completions APIs answer with: a status and headers, then a body
 * framed by Content-Length, chunked transfer coding, or the connection's close; 1xx interim answers
 * are skipped. Requests are never pipelined: one request per connection at a time.
 */

/** Where requests go: parsed once per base URL. */
export interface Http1Endpoint {
  readonly secure: boolean;
  readonly hostname: string;
  readonly port: number;
  /** The request target, e.g. `/v1/chat/completions`. */
  readonly path: string;
  /** The Host header's value. */
  readonly host: string;
}

/** What a request's caller is told, in order: the head once, body bytes, then the end or one error. */
export interface Http1Handlers {
  onHead(head: Http1ResponseHead): void;
  onData(bytes: Buffer): void;
  onEnd(): void;
  /** The request failed (after which nothing else is called); `phase` says whether the head had arrived. */
  onError(error: Error, phase: "head" | "body"): void;
}

/** A request under way. */
export interface Http1Request {
  /** Stops it: the connection is closed unless the answer had already arrived in full. No handler runs after. */
  abort(): void;
  /** Stops and restarts reading the answer (backpressure for a slow reader). */
  pause(): void;
  resume(): void;
}

export interface Http1PoolOptions {
  /** Longest silence of a connection with a request on it: connecting, waiting for the head, between body reads. */
  readonly timeoutMs: number;
  /**
   * Connections per host at most (default 256); requests beyond wait for one to free up. Every
   * released connection is kept until it has been idle too long: closing some on release, to keep
   * fewer idle, made each burst of load open them again.
   */
  readonly maxSockets?: number;
  /**
   * How long an idle connection is kept when the server does not say (`Keep-Alive: timeout=N`,
   * of which one second less is used): servers close idle connections after a while, and one closed
   * just as a request is written on it fails that request. Default 4 s, as undici.
   */
  readonly freeSocketTimeoutMs?: number;
}

/** Pools of kept-alive connections, one per host. */
export class Http1Pool {
  private readonly hosts = new Map<string, HostPool>();
  private readonly maxSockets: number;
  private readonly freeSocketTimeoutMs: number;
  private closed = false;

  constructor(readonly options: Http1PoolOptions) {
    this.maxSockets = options.maxSockets ?? 256;
    this.freeSocketTimeoutMs = options.freeSocketTimeoutMs ?? 4000;
  }

  /**
   * Sends `head` (request line and headers, ending in the blank line) and `body` to the endpoint on
   * an idle connection, a new one, or the first to free up when the host has maxSockets busy.
   */
  request(endpoint: Http1Endpoint, head: string, body: string, handlers: Http1Handlers): Http1Request {
    const key = `${endpoint.secure ? "s" : ""}${endpoint.hostname}:${endpoint.port}`;
    let host = this.hosts.get(key);
    if (host === undefined) {
      host = new HostPool(endpoint, this.maxSockets, this.freeSocketTimeoutMs, this.options.timeoutMs);
      this.hosts.set(key, host);
    }
    const exchange = new Exchange(head + body, handlers);
    if (this.closed) {
      queueMicrotask(() => exchange.fail(new Error("the upstream connection pool is closed"), "head"));
      return exchange;
    }
    host.start(exchange);
    return exchange;
  }

  /** Closes every connection; requests under way fail. */
  close(): void {
    this.closed = true;
    for (const host of this.hosts.values()) host.close();
    this.hosts.clear();
  }
}

class HostPool implements ConnectionOwner {
  readonly idle: Connection[] = [];
  private readonly waiting: Exchange[] = [];
  private sweeper: NodeJS.Timeout | undefined;
  busy = 0;

  constructor(
    private readonly endpoint: Http1Endpoint,
    private readonly maxSockets: number,
    readonly freeSocketTimeoutMs: number,
    readonly timeoutMs: number,
  ) {}

  start(exchange: Exchange): void {
    // The most recently used first: it is the least likely to have been closed by the server.
    let connection = this.idle.pop();
    while (connection !== undefined && Date.now() - connection.idleSince >= connection.idleTimeoutMs) {
      connection.destroy();
      connection = this.idle.pop();
    }
    if (connection !== undefined) {
      this.busy++;
      connection.begin(exchange);
    } else if (this.busy < this.maxSockets) {
      this.busy++;
      new Connection(this, this.connect()).begin(exchange);
    } else {
      exchange.queued = this;
      this.waiting.push(exchange);
    }
  }

  /** A waiting exchange was aborted before it got a connection. */
  forget(exchange: Exchange): void {
    const index = this.waiting.indexOf(exchange);
    if (index >= 0) this.waiting.splice(index, 1);
  }

  /** The connection finished its exchange and can take another. */
  release(connection: Connection): void {
    const next = this.waiting.shift();
    if (next !== undefined) {
      next.queued = undefined;
      connection.begin(next);
      return;
    }
    this.busy--;
    connection.idleUntilReused();
    this.idle.push(connection);
    this.sweeper ??= setInterval(() => this.sweep(), 1000).unref();
  }

  /** Closes connections idle past their time; stops once none is idle. */
  private sweep(): void {
    const now = Date.now();
    for (const connection of this.idle.filter((idle) => now - idle.idleSince >= idle.idleTimeoutMs)) connection.destroy();
    if (this.idle.length === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  /** The connection is gone (closed, failed, or not reusable). */
  remove(connection: Connection, wasBusy: boolean): void {
    if (wasBusy) {
      this.busy--;
      // Its slot is free: a waiting request gets a new connection.
      const next = this.waiting.shift();
      if (next !== undefined) {
        next.queued = undefined;
        this.start(next);
      }
    } else {
      const index = this.idle.indexOf(connection);
      if (index >= 0) this.idle.splice(index, 1);
    }
  }

  close(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const exchange of this.waiting.splice(0)) exchange.fail(new Error("the upstream connection pool is closed"), "head");
    for (const connection of this.idle.splice(0)) connection.destroy();
  }

  private connect(): net.Socket {
    const { hostname, port, secure } = this.endpoint;
    const socket = secure
      ? tls.connect({ host: hostname, port, servername: net.isIP(hostname) === 0 ? hostname : undefined, ALPNProtocols: ["http/1.1"] })
      : net.connect({ host: hostname, port });
    socket.setNoDelay(true);
    return socket;
  }
}

/** One request and its answer, from the caller's side. */
class Exchange implements Http1Request, ConnectionExchange {
  connection: Connection | undefined;
  /** Set while it waits for a connection. */
  queued: HostPool | undefined;
  finished = false;
  headSeen = false;

  constructor(
    readonly bytes: string,
    private readonly handlers: Http1Handlers,
  ) {}

  head(head: Http1ResponseHead): void {
    this.headSeen = true;
    this.handlers.onHead(head);
  }

  data(bytes: Buffer): void {
    if (!this.finished) this.handlers.onData(bytes);
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    this.handlers.onEnd();
  }

  fail(error: Error, phase: "head" | "body"): void {
    if (this.finished) return;
    this.finished = true;
    this.handlers.onError(error, phase);
  }

  abort(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.queued !== undefined) this.queued.forget(this);
    else this.connection?.destroy();
  }

  pause(): void {
    this.connection?.socket.pause();
  }

  resume(): void {
    this.connection?.socket.resume();
  }
}
