import type http2 from "node:http2";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { TlsFiles } from "./config.js";
import { protobufRecursionLimit } from "./json-depth.js";

/** Options of {@link createMeshTransport}. */
export interface MeshTransportOptions {
  /** TLS material of this process: with a CA, it verifies the server and presents its own certificate. */
  readonly tls?: TlsFiles;
  /**
   * Silence after which a connection with calls open is PINGed; unanswered for as long again, the
   * connection and its calls are given up and the next call opens a new one. 0 or absent: never.
   */
  readonly keepaliveMs?: number;
  readonly interceptors?: Interceptor[];
  /** Largest answer message accepted, in bytes. */
  readonly readMaxBytes?: number;
}

/**
 * The gRPC transport for one hop of the mesh (facade → router, agent → router, router → agent):
 * Connect's gRPC client on one node:http2 session per address, multiplexing every call, with
 * keepalive PINGs and, for an https:// address, TLS with the mesh's certificates.
 */
export function createMeshTransport(baseUrl: string, options: MeshTransportOptions = {}): Transport {
  const tls = baseUrl.startsWith("https:") ? options.tls : undefined;
  const keepaliveMs = options.keepaliveMs ?? 0;
  return createGrpcTransport({
    baseUrl,
    interceptors: options.interceptors,
    readMaxBytes: options.readMaxBytes,
    // Answers may carry an upstream's extras as deep as requests may be.
    binaryOptions: { recursionLimit: protobufRecursionLimit },
    // Without Nagle's algorithm: a call's HEADERS and DATA go out as written, not held back until the
    // router acknowledges the previous segment (net.connect and tls.connect take `noDelay`).
    nodeOptions: { noDelay: true, ...(tls === undefined ? {} : { cert: tls.cert, key: tls.key, ca: tls.ca }) } as http2.SecureClientSessionOptions,
    ...(keepaliveMs > 0 ? { pingIntervalMs: keepaliveMs, pingTimeoutMs: keepaliveMs } : {}),
  });
}
