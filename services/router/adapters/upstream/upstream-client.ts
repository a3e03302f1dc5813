import { Agent, EnvHttpProxyAgent, type Dispatcher } from "undici";
import { nodeErrorCode } from "../../../common/errors.js";

/**
 * The router's HTTP client for every provider: undici's connection pools (HTTP/1.1, or HTTP/2 where
 * an https upstream offers it and IIR_UPSTREAM_HTTP2 allows), kept alive and reused per origin, TLS
 * sessions resumed, through HTTP(S)_PROXY unless NO_PROXY says otherwise. Requests go through
 * undici's `dispatch`: each answer's head and body reads reach the caller's handlers with no stream
 * objects in between. One client per router; adapters share it.
 */

/** Settings of the upstream client. */
export interface UpstreamClientOptions {
  /** Longest wait for an answer's head once the request is sent, and between two reads of its body. */
  readonly timeoutMs: number;
  /** Longest wait for a TCP (and TLS) connection to open (IIR_UPSTREAM_CONNECT_TIMEOUT). Default 10 s. */
  readonly connectTimeoutMs?: number;
  /**
   * Connections per upstream origin at most (IIR_UPSTREAM_MAX_CONNECTIONS); requests beyond wait for
   * one. LLM streams last seconds to minutes, so the default is far above what one router carries.
   * 0: no limit. Default 4096.
   */
  readonly maxConnections?: number;
  /** Offer HTTP/2 to https upstreams (ALPN); one connection then carries many streams. Default false. */
  readonly http2?: boolean;
  /** Proxies; absent: read from HTTP_PROXY, HTTPS_PROXY and NO_PROXY (the lower-case forms first). */
  readonly proxy?: { readonly httpProxy?: string; readonly httpsProxy?: string; readonly noProxy?: string };
  /** Certificate authorities to trust besides the system's (tests; deployments use NODE_EXTRA_CA_CERTS). */
  readonly ca?: string | Buffer;
}

/** What a request's caller is told, in order: the head once, body bytes, then the end or one error. */
export interface UpstreamHandlers {
  onHead(status: number, headers: UpstreamHeaders): void;
  onData(bytes: Buffer): void;
  onEnd(): void;
  /** The request failed (after which nothing else is called); `phase` says whether the head had arrived. */
  onError(error: Error, phase: "head" | "body"): void;
}

/** Response header names are lower case; a repeated header is an array. */
export type UpstreamHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** One request to send. */
export interface UpstreamRequest {
  /** The origin, e.g. `https://api.openai.com`. */
  readonly origin: string;
  /** The path and query, e.g. `/v1/chat/completions`. */
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** Absent: POST. A GET (a provider's model list) sends no body. */
  readonly method?: "GET" | "POST";
}

/** A request under way. */
export interface UpstreamExchange {
  /** Stops it (the connection is closed unless the answer had arrived in full); no handler runs after. */
  abort(): void;
  /** Stops and restarts reading the answer (backpressure for a slow reader). */
  pause(): void;
  resume(): void;
}

export interface UpstreamClient {
  /** Sends a POST (or the request's GET); a reused connection that dies before any answer byte is retried once. */
  send(request: UpstreamRequest, handlers: UpstreamHandlers): UpstreamExchange;
  /** Closes every connection; requests under way fail. */
  close(): Promise<void>;
}

const defaultConnectTimeoutMs = 10_000;
const defaultMaxConnections = 4096;

export function createUpstreamClient(options: UpstreamClientOptions): UpstreamClient {
  const dispatchers: Dispatchers = { pooled: createDispatcher(options), fresh: createDispatcher(options), timeoutMs: options.timeoutMs };
  return {
    send(request, handlers) {
      const exchange = new Exchange(dispatchers, request, handlers);
      exchange.dispatch(false);
      return exchange;
    },
    close: async () => {
      await Promise.all([dispatchers.pooled.destroy(), dispatchers.fresh.destroy()]);
    },
  };
}

/**
 * `pooled` carries every request on kept-alive connections. `fresh` carries the retries, each on a
 * connection of its own that closes after the answer: another pooled connection could be just as
 * dead as the one that failed.
 */
interface Dispatchers {
  readonly pooled: Dispatcher;
  readonly fresh: Dispatcher;
  readonly timeoutMs: number;
}

function createDispatcher(options: UpstreamClientOptions): Dispatcher {
  const maxConnections = options.maxConnections ?? defaultMaxConnections;
  const connectTimeoutMs = options.connectTimeoutMs ?? defaultConnectTimeoutMs;
  const agentOptions: Agent.Options = {
    connections: maxConnections === 0 ? null : maxConnections,
    connect: {
      timeout: connectTimeoutMs,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    },
    allowH2: options.http2 ?? false,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
  };
  // Given proxies are used as they are (the configuration read the environment); absent, the environment's.
  const proxy = options.proxy ?? { httpProxy: environment("HTTP_PROXY"), httpsProxy: environment("HTTPS_PROXY"), noProxy: environment("NO_PROXY") };
  // Without a proxy the Agent is used as it is: the proxy agent parses every request's origin.
  if (!proxy.httpProxy && !proxy.httpsProxy) return new Agent(agentOptions);
  // Through a proxy, the connect timeout holds for the connection to the proxy and for the TLS
  // handshake with the upstream inside the tunnel; the CAs are the upstream's.
  return new EnvHttpProxyAgent({
    ...agentOptions,
    proxyTls: { timeout: connectTimeoutMs },
    requestTls: { timeout: connectTimeoutMs, ...(options.ca === undefined ? {} : { ca: options.ca }) },
    httpProxy: proxy.httpProxy ?? "",
    httpsProxy: proxy.httpsProxy ?? "",
    noProxy: proxy.noProxy ?? "",
  });
}

function environment(name: string): string | undefined {
  return process.env[name.toLowerCase()] ?? process.env[name];
}

// Errors of a connection that broke before any answer: on a kept-alive connection that the server
// closed while it sat idle (the request crossed the server's FIN), the request was never read.
const brokenConnectionCodes = new Set(["UND_ERR_SOCKET", "ECONNRESET", "EPIPE"]);

/**
 * One request: undici's handler, relaying to the caller's. A request that fails on a reused
 * connection before its answer's first byte is sent once more, on a new connection.
 */
class Exchange implements Dispatcher.DispatchHandler, UpstreamExchange {
  private controller: Dispatcher.DispatchController | undefined;
  private headSeen = false;
  private finished = false;
  private aborted = false;
  private retried = false;
  private paused = false;

  constructor(
    private readonly dispatchers: Dispatchers,
    private readonly request: UpstreamRequest,
    private readonly handlers: UpstreamHandlers,
  ) {}

  dispatch(fresh: boolean): void {
    const { origin, path, headers, body, method = "POST" } = this.request;
    const timeoutMs = this.dispatchers.timeoutMs;
    try {
      (fresh ? this.dispatchers.fresh : this.dispatchers.pooled).dispatch(
        { origin, path, method, headers, body: method === "GET" ? null : body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, reset: fresh },
        this,
      );
    } catch (error) {
      queueMicrotask(() => this.onResponseError(undefined, error as Error));
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.aborted) controller.abort(abortReason());
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: UpstreamHeaders): void {
    if (this.finished) return;
    this.headSeen = true;
    if (this.paused) controller.pause();
    this.handlers.onHead(statusCode, headers);
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.finished) this.handlers.onData(chunk);
  }

  onResponseEnd(): void {
    if (this.finished) return;
    this.finished = true;
    this.handlers.onEnd();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    if (this.finished) return;
    if (!this.headSeen && !this.aborted && !this.retried && diedOnReusedConnection(error)) {
      this.retried = true;
      this.controller = undefined;
      this.dispatch(true);
      return;
    }
    this.finished = true;
    this.handlers.onError(error, this.headSeen ? "body" : "head");
  }

  abort(): void {
    if (this.finished) return;
    this.finished = true;
    this.aborted = true;
    this.controller?.abort(abortReason());
  }

  pause(): void {
    this.paused = true;
    this.controller?.pause();
  }

  resume(): void {
    this.paused = false;
    this.controller?.resume();
  }
}

/**
 * Whether the connection broke under a request before any answer came, on a connection that had
 * carried answers before. undici's socket errors say how many bytes the socket ever read; a reset
 * does not, and is taken as that case too (a fresh connection reset before answering is rare, and
 * its request was not read either).
 */
function diedOnReusedConnection(error: Error): boolean {
  const code = nodeErrorCode(error);
  if (code === undefined || !brokenConnectionCodes.has(code)) return false;
  const socket = (error as { socket?: { bytesRead?: unknown } }).socket;
  return code !== "UND_ERR_SOCKET" || (typeof socket?.bytesRead === "number" && socket.bytesRead > 0);
}

function abortReason(): Error {
  return Object.assign(new Error("the request was aborted"), { name: "AbortError" });
}
