import http2 from "node:http2";
import type { ServerLimits } from "./config.js";

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

/**
 * node:http2 server options with nghttp2's protections set for a port anyone on the network may
 * reach. nghttp2 itself answers rapid resets (streams opened and reset at once), SETTINGS and PING
 * floods from a client that reads nothing, and malformed frames with GOAWAY; these bound what it
 * holds for one connection.
 */
export function http2ServerOptions(limits: ServerLimits): http2.ServerOptions {
  return {
    // Megabytes one connection may hold inside nghttp2 (header tables, queued frames, unacknowledged
    // PINGs and SETTINGS); beyond it new streams are refused.
    maxSessionMemory: 32,
    maxSessionInvalidFrames: 1000,
    maxSessionRejectedStreams: 100,
    maxHeaderListPairs: 128,
    settings: {
      maxConcurrentStreams: limits.maxConcurrentStreams,
      maxHeaderListSize: 64 * 1024,
      enablePush: false,
    },
  };
}

interface SessionState {
  /** Request-body bytes its open streams received. */
  buffered: number;
  open: number;
  idle: NodeJS.Timeout | undefined;
}

/**
 * What nghttp2 does not bound, bounded per connection: the request bodies its open calls hold
 * (Connect reads each whole before the call runs; `connectionBufferBytes` per connection and
 * `totalBufferBytes` in all, a stream beyond either is reset with ENHANCE_YOUR_CALM, which clients
 * read as ResourceExhausted), how long a body may take to arrive (`bodyTimeoutMs`, then CANCEL),
 * and how long a connection may stay open with no call (`idleTimeoutMs`, then GOAWAY). Returns
 * the live sessions, for a graceful shutdown.
 */
export function guardHttp2Server(server: http2.Http2Server | http2.Http2SecureServer, limits: ServerLimits): Iterable<http2.ServerHttp2Session> {
  const sessions = new Map<http2.ServerHttp2Session, SessionState>();
  let totalBuffered = 0;
  const armIdle = (session: http2.ServerHttp2Session, state: SessionState) => {
    if (limits.idleTimeoutMs <= 0) return;
    state.idle = setTimeout(() => session.close(), limits.idleTimeoutMs);
    state.idle.unref();
  };
  server.on("session", (session: http2.ServerHttp2Session) => {
    const state: SessionState = { buffered: 0, open: 0, idle: undefined };
    sessions.set(session, state);
    armIdle(session, state);
    session.once("close", () => {
      clearTimeout(state.idle);
      sessions.delete(session);
    });
  });
  server.on("stream", (stream: http2.ServerHttp2Stream) => {
    const state = sessions.get(stream.session as http2.ServerHttp2Session);
    if (state === undefined) return;
    state.open += 1;
    clearTimeout(state.idle);
    let held = 0;
    const deadline = setTimeout(() => {
      if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
    }, limits.bodyTimeoutMs);
    // A reset stream emits 'error' for what is already known; nothing more to do with it here.
    stream.on("error", () => undefined);
    const count = (chunk: Buffer) => {
      held += chunk.length;
      state.buffered += chunk.length;
      totalBuffered += chunk.length;
      if ((state.buffered > limits.connectionBufferBytes || totalBuffered > limits.totalBufferBytes) && !stream.destroyed) {
        stream.close(NGHTTP2_ENHANCE_YOUR_CALM);
      }
    };
    // Counted beside the compatibility layer's own 'data' listener, added when the handler first
    // reads: a listener of ours before that would set the stream flowing and lose it the body.
    const watch = (event: string | symbol) => {
      if (event !== "data") return;
      stream.off("newListener", watch);
      stream.on("data", count);
    };
    stream.on("newListener", watch);
    stream.once("end", () => clearTimeout(deadline));
    stream.once("close", () => {
      clearTimeout(deadline);
      state.buffered -= held;
      totalBuffered -= held;
      state.open -= 1;
      if (state.open === 0 && !stream.session?.closed) armIdle(stream.session as http2.ServerHttp2Session, state);
    });
  });
  return { [Symbol.iterator]: () => sessions.keys() };
}
