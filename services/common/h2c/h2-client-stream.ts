import { h2ErrorCodes } from "./frames.js";
import type { HeaderPair } from "./hpack.js";

/** What each stream may receive before it must hand back credit (our SETTINGS_INITIAL_WINDOW_SIZE). */
export const streamWindow = 256 * 1024;

/** How a stream ended other than normally. */
export type StreamFailure =
  /** The server reset it (RST_STREAM) with this error code. */
  | { readonly kind: "reset"; readonly code: number }
  /** The connection failed or closed under it: the socket's error, or a protocol error. */
  | { readonly kind: "connection"; readonly error: Error }
  /** The server said (GOAWAY) it never processed it: it is safe to send again. */
  | { readonly kind: "unprocessed"; readonly error: Error };

/** What a stream tells its owner. Every stream gets exactly one `onClose`. */
export interface StreamHandler {
  /** The response's header block, then (at most once more) its trailers; `endStream` on the last. */
  onHeaders(fields: HeaderPair[], endStream: boolean): void;
  onData(data: Buffer): void;
  /** The stream is over: `failure` undefined when the server ended it (END_STREAM). */
  onClose(failure: StreamFailure | undefined): void;
}

/** What a stream needs of its connection. */
export interface StreamConnection {
  resetStream(stream: H2ClientStream, code: number): void;
  creditStream(stream: H2ClientStream, credit: number): void;
}

/** One request on the connection: what it still has to send, and its windows. */
export class H2ClientStream {
  /** 0 until its HEADERS go out. */
  id = 0;
  /** Bytes of `body` already sent. */
  private sent = 0;
  /** Set when it opens, from the server's SETTINGS then. */
  sendWindow = 0;
  /** Bytes received and not yet handed back as credit. */
  private unacknowledged = 0;
  private paused = false;
  closed = false;

  constructor(
    private readonly connection: StreamConnection,
    readonly headerBlock: Buffer,
    readonly body: Buffer,
    readonly handler: StreamHandler,
  ) {}

  /** Resets the stream (RST_STREAM, CANCEL by default); the handler hears onClose with a reset. */
  cancel(code: number = h2ErrorCodes.cancel): void {
    this.connection.resetStream(this, code);
  }

  /** Stops handing back flow-control credit: the server stops sending once the window is used. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.unacknowledged > 0 && !this.closed) this.connection.creditStream(this, this.takeCredit());
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** @internal Counts received DATA; returns the credit to hand back now (0: not yet). */
  received(length: number): number {
    this.unacknowledged += length;
    if (this.paused || this.unacknowledged < streamWindow / 2) return 0;
    return this.takeCredit();
  }

  private takeCredit(): number {
    const credit = this.unacknowledged;
    this.unacknowledged = 0;
    return credit;
  }

  /** @internal The next piece of body to send, within `limit` bytes. */
  nextChunk(limit: number): { chunk: Buffer; last: boolean } {
    const end = Math.min(this.body.length, this.sent + limit);
    const chunk = this.body.subarray(this.sent, end);
    this.sent = end;
    return { chunk, last: end === this.body.length };
  }

  get bodyLeft(): number {
    return this.body.length - this.sent;
  }
}
