import type net from "node:net";
import { holdWritesUntilTurnEnds } from "../../../common/turn-batched-writes.js";

/**
 * One kept-alive HTTP/1.1 connection of the upstream pool (http1-pool.ts) and the incremental parser
 * of the answer on it: the status line and headers, then a body framed by Content-Length, chunked
 * transfer coding or the connection's close, handed to the request's exchange as it arrives.
 */

/** A parsed response head; header names are lower case, repeated headers joined with ", ". */
export interface Http1ResponseHead {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
}

/** A request the upstream left unanswered past the pool's timeout. */
export class Http1TimeoutError extends Error {
  override readonly name = "Http1TimeoutError";
}

/** The pool a connection belongs to, as the connection sees it. */
export interface ConnectionOwner {
  /** Longest silence while a request is on the connection. */
  readonly timeoutMs: number;
  /** How long an idle connection is kept when the server gives no Keep-Alive hint. */
  readonly freeSocketTimeoutMs: number;
  /** The exchange finished and the connection can take another. */
  release(connection: Connection): void;
  /** The connection is gone; `wasBusy` if a request was on it. */
  remove(connection: Connection, wasBusy: boolean): void;
}

/** A request on a connection, as the connection sees it. */
export interface ConnectionExchange {
  /** The request line, headers and body, written in one write. */
  readonly bytes: string;
  connection: Connection | undefined;
  readonly headSeen: boolean;
  head(head: Http1ResponseHead): void;
  data(bytes: Buffer): void;
  end(): void;
  fail(error: Error, phase: "head" | "body"): void;
}

// A response head larger than this is refused: no API we talk to sends one anywhere near it.
const maximumHeadBytes = 64 * 1024;
const maximumChunkLineBytes = 1024;

const enum State {
  Head,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  Length,
  UntilClose,
  Done,
}

/** One kept-alive connection and the parser of the answer on it. */
export class Connection {
  private exchange: ConnectionExchange | undefined;
  private state = State.Done;
  private keepAlive = true;
  /** Bytes of an unfinished head, or of an unfinished chunk-size or trailer line. */
  private pending: Buffer | undefined;
  private remaining = 0;
  /** How long it may sit idle in the pool; the server's Keep-Alive hint shortens it. */
  idleTimeoutMs: number;
  /** When it went back to the pool (Date.now()). */
  idleSince = 0;
  private gone = false;

  constructor(
    private readonly pool: ConnectionOwner,
    readonly socket: net.Socket,
  ) {
    this.idleTimeoutMs = pool.freeSocketTimeoutMs;
    // Silence while a request is on it (connecting, waiting, between reads) ends the request; an
    // idle connection silent that long is closed. Reads and writes restart the timer.
    socket.setTimeout(pool.timeoutMs);
    socket.on("data", (bytes: Buffer) => this.onData(bytes));
    socket.on("end", () => this.onClose(undefined));
    socket.on("error", (error) => this.onClose(error));
    socket.on("close", () => this.onClose(undefined));
    socket.on("timeout", () => this.onTimeout());
  }

  begin(exchange: ConnectionExchange): void {
    if (this.idleSince !== 0) {
      this.idleSince = 0;
      this.socket.ref();
    }
    this.exchange = exchange;
    exchange.connection = this;
    this.state = State.Head;
    this.keepAlive = true;
    // Requests begun in one turn go out back to back at its end (see turn-batched-writes.ts).
    holdWritesUntilTurnEnds(this.socket);
    this.socket.write(exchange.bytes);
  }

  idleUntilReused(): void {
    this.idleSince = Date.now();
    // Idle connections do not keep the process alive.
    this.socket.unref();
  }

  destroy(): void {
    if (this.gone) return;
    this.gone = true;
    const busy = this.exchange !== undefined;
    this.exchange = undefined;
    this.socket.destroy();
    this.pool.remove(this, busy);
  }

  private onTimeout(): void {
    const exchange = this.exchange;
    if (exchange === undefined) {
      this.destroy();
      return;
    }
    const phase = exchange.headSeen ? "body" : "head";
    this.destroy();
    exchange.fail(new Http1TimeoutError(`no answer for ${this.pool.timeoutMs} ms`), phase);
  }

  private onClose(error: Error | undefined): void {
    if (this.gone) return;
    const exchange = this.exchange;
    if (exchange !== undefined && this.state === State.UntilClose && error === undefined) {
      this.state = State.Done;
      this.destroy();
      exchange.end();
      return;
    }
    this.destroy();
    if (exchange === undefined) return;
    const phase = exchange.headSeen ? "body" : "head";
    exchange.fail(error ?? Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }), phase);
  }

  private onData(bytes: Buffer): void {
    const exchange = this.exchange;
    if (exchange === undefined) {
      // Nothing was asked: a server that talks out of turn is not one to reuse.
      this.destroy();
      return;
    }
    try {
      this.parse(exchange, bytes);
    } catch (error) {
      this.destroy();
      exchange.fail(error as Error, exchange.headSeen ? "body" : "head");
    }
  }

  /** Hands on up to `remaining` body bytes from `offset` (without copying); returns where they end. */
  private forwardBody(exchange: ConnectionExchange, bytes: Buffer, offset: number): number {
    const take = Math.min(this.remaining, bytes.length - offset);
    this.remaining -= take;
    exchange.data(offset === 0 && take === bytes.length ? bytes : bytes.subarray(offset, offset + take));
    return offset + take;
  }

  private parse(exchange: ConnectionExchange, bytes: Buffer): void {
    let offset = 0;
    while (offset < bytes.length && this.exchange === exchange) {
      switch (this.state) {
        case State.Head:
          offset = this.readHead(exchange, bytes, offset);
          break;
        case State.Length:
          offset = this.forwardBody(exchange, bytes, offset);
          if (this.remaining === 0) this.complete(exchange, offset < bytes.length);
          break;
        case State.UntilClose:
          exchange.data(offset === 0 ? bytes : bytes.subarray(offset));
          offset = bytes.length;
          break;
        case State.ChunkSize: {
          const line = this.readLine(bytes, offset);
          if (line === undefined) return;
          offset = line.next;
          const size = chunkSizeOf(line.text);
          if (size === 0) this.state = State.Trailers;
          else {
            this.remaining = size;
            this.state = State.ChunkData;
          }
          break;
        }
        case State.ChunkData:
          offset = this.forwardBody(exchange, bytes, offset);
          if (this.remaining === 0) this.state = State.ChunkDataEnd;
          break;
        case State.ChunkDataEnd: {
          const line = this.readLine(bytes, offset);
          if (line === undefined) return;
          if (line.text !== "") throw new Error("upstream sent a malformed chunked body: no line end after a chunk");
          offset = line.next;
          this.state = State.ChunkSize;
          break;
        }
        case State.Trailers: {
          const line = this.readLine(bytes, offset);
          if (line === undefined) return;
          offset = line.next;
          if (line.text === "") this.complete(exchange, offset < bytes.length);
          break;
        }
        case State.Done:
          // Bytes after a complete answer: not a connection to reuse.
          this.keepAlive = false;
          return;
      }
    }
  }

  /** Parses the head once its blank line is in; returns where the body starts (or bytes.length). */
  private readHead(exchange: ConnectionExchange, bytes: Buffer, offset: number): number {
    let buffer = offset === 0 ? bytes : bytes.subarray(offset);
    let searchFrom = 0;
    if (this.pending !== undefined) {
      searchFrom = Math.max(0, this.pending.length - 3);
      buffer = Buffer.concat([this.pending, buffer]);
      this.pending = undefined;
    }
    const end = buffer.indexOf("\r\n\r\n", searchFrom, "latin1");
    if (end < 0 ? buffer.length > maximumHeadBytes : end > maximumHeadBytes) throw new Error(`upstream sent a response head over ${maximumHeadBytes} bytes`);
    if (end < 0) {
      this.pending = buffer;
      return bytes.length;
    }
    const head = parseHead(buffer.toString("latin1", 0, end));
    const bodyStart = end + 4;
    const consumed = bytes.length - (buffer.length - bodyStart);
    if (head.status < 200) {
      // 100 Continue, 103 Early Hints: the answer follows.
      if (head.status === 101) throw new Error("upstream switched protocols");
      return consumed;
    }
    const headers = head.headers;
    const connection = headers.connection?.toLowerCase();
    this.keepAlive = head.http11 ? connection !== "close" : connection === "keep-alive";
    const keepAliveHint = /timeout=(\d+)/i.exec(headers["keep-alive"] ?? "");
    if (keepAliveHint !== null) this.idleTimeoutMs = Math.max(0, Number(keepAliveHint[1]) * 1000 - 1000);
    // The framing is worked out before the caller hears of the answer: a head that frames its body
    // wrongly is a failure of the head.
    const transferEncoding = headers["transfer-encoding"];
    let state: State;
    if (head.status === 204 || head.status === 304) state = State.Done;
    else if (transferEncoding !== undefined && /(?:^|,)\s*chunked\s*$/i.test(transferEncoding)) state = State.ChunkSize;
    else if (transferEncoding === undefined && headers["content-length"] !== undefined) {
      this.remaining = contentLengthOf(headers["content-length"]);
      state = this.remaining === 0 ? State.Done : State.Length;
    } else {
      state = State.UntilClose;
      this.keepAlive = false;
    }
    exchange.head({ status: head.status, headers });
    if (this.exchange !== exchange) return bytes.length;
    if (state === State.Done) this.complete(exchange, consumed < bytes.length);
    else this.state = state;
    return consumed;
  }

  /** The next CRLF-ended line from `offset` (joined with a line begun in earlier bytes), or undefined until it is complete. */
  private readLine(bytes: Buffer, offset: number): { text: string; next: number } | undefined {
    const lineEnd = bytes.indexOf(10, offset);
    if (lineEnd < 0) {
      const rest = bytes.subarray(offset);
      this.pending = this.pending === undefined ? Buffer.from(rest) : Buffer.concat([this.pending, rest]);
      if (this.pending.length > maximumChunkLineBytes) throw new Error("upstream sent a malformed chunked body: a line too long");
      return undefined;
    }
    let text = bytes.toString("latin1", offset, lineEnd);
    if (this.pending !== undefined) {
      text = this.pending.toString("latin1") + text;
      this.pending = undefined;
    }
    if (!text.endsWith("\r")) throw new Error("upstream sent a malformed chunked body: a line without CRLF");
    return { text: text.slice(0, -1), next: lineEnd + 1 };
  }

  private complete(exchange: ConnectionExchange, moreBytes: boolean): void {
    this.state = State.Done;
    exchange.connection = undefined;
    if (this.keepAlive && !moreBytes) {
      this.exchange = undefined;
      this.pool.release(this);
    } else {
      this.destroy();
    }
    exchange.end();
  }
}

function parseHead(text: string): { status: number; http11: boolean; headers: Record<string, string> } {
  const lines = text.split("\r\n");
  const statusLine = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0]!);
  if (statusLine === null) throw new Error(`upstream did not answer in HTTP/1.1: ${JSON.stringify(lines[0]!.slice(0, 80))}`);
  const headers: Record<string, string> = Object.create(null);
  for (let index = 1; index < lines.length; index++) {
    const line = lines[index]!;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error("upstream sent a malformed header line");
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const earlier = headers[name];
    headers[name] = earlier === undefined ? value : `${earlier}, ${value}`;
  }
  return { status: Number(statusLine[2]), http11: statusLine[1] === "1", headers };
}

function chunkSizeOf(line: string): number {
  const semicolon = line.indexOf(";");
  const digits = (semicolon < 0 ? line : line.slice(0, semicolon)).trim();
  if (!/^[0-9a-fA-F]{1,12}$/.test(digits)) throw new Error("upstream sent a malformed chunked body: a bad chunk size");
  return parseInt(digits, 16);
}

function contentLengthOf(value: string): number {
  // Repeated identical values ("5, 5") are allowed; differing ones are a broken or hostile answer.
  const values = new Set(value.split(",").map((part) => part.trim()));
  const [only] = values;
  if (values.size !== 1 || !/^\d{1,15}$/.test(only!)) throw new Error("upstream sent a bad Content-Length");
  return Number(only);
}
