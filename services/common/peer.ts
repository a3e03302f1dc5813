import type http from "node:http";
import type http2 from "node:http2";
import net from "node:net";
import type tls from "node:tls";
import { createContextKey, createContextValues, type ContextValues } from "@connectrpc/connect";

/** Who is on the other end of a call, as the transport knows it. */
export interface Peer {
  /** The remote address; "in-process" for calls that never left the process. */
  readonly address: string;
  /** Whether the caller is this machine (a loopback address, or the same process). */
  readonly local: boolean;
  /** Whether the caller presented a client certificate signed by the mesh's CA (mutual TLS). */
  readonly trustedCertificate: boolean;
}

/** The peer of the current call, in the handler context's values. */
export const peerKey = createContextKey<Peer | undefined>(undefined, { description: "iir peer" });

/** The peer of calls made through the in-process transport: this process itself. */
export const inProcessPeer: Peer = Object.freeze({ address: "in-process", local: true, trustedCertificate: false });

/** Context values holding the peer of a Node request (HTTP/1.1 or HTTP/2, plain or TLS). */
export function peerContextValues(request: http.IncomingMessage | http2.Http2ServerRequest): ContextValues {
  const values = createContextValues();
  values.set(peerKey, peerOf(request.socket as net.Socket | tls.TLSSocket));
  return values;
}

function peerOf(socket: net.Socket | tls.TLSSocket): Peer {
  const address = socket.remoteAddress ?? "";
  // A TLS server that requires client certificates lets only CA-signed ones through: `authorized`.
  const trustedCertificate = "authorized" in socket && socket.authorized === true && socket.getPeerCertificate().subject !== undefined;
  return { address, local: isLoopback(address), trustedCertificate };
}

/** Whether an address is this machine's loopback (127.0.0.0/8, ::1, or IPv4 mapped into IPv6). */
export function isLoopback(address: string): boolean {
  const plain = address.startsWith("::ffff:") ? address.slice(7) : address;
  if (net.isIPv4(plain)) return plain.startsWith("127.");
  return plain === "::1";
}

/** Whether a host name or address to listen on is loopback only. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || isLoopback(host);
}
