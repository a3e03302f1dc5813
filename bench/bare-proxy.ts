import http from "node:http";
import type net from "node:net";
import { pathToFileURL } from "node:url";
import { stream } from "undici";

/**
 * The floor for the streams scenario: the least a Node proxy built from the gateway's own libraries
 * (node:http server, undici client) can do. Bytes go through unparsed, each upstream read becoming
 * one write to the client; undici's global dispatcher keeps the upstream connections alive.
 */

// Hop-by-hop fields belong to one connection, not the message (RFC 9110 §7.6.1); `host` undici sets.
const notForwarded = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host"]);

function forwardable(headers: http.IncomingHttpHeaders): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !notForwarded.has(name)) kept[name] = value;
  return kept;
}

/** A proxy of every request to `upstream` (an origin); not yet listening. */
export function createBareProxy(upstream: string): http.Server {
  return http.createServer({ keepAliveTimeout: 65_000 }, (request, response) => {
    const method = request.method === "GET" || request.method === "HEAD" ? request.method : "POST";
    const body = method === "POST" ? request : null;
    stream(new URL(request.url ?? "/", upstream), { method, headers: forwardable(request.headers), body }, ({ statusCode, headers }) => {
      response.writeHead(statusCode, forwardable(headers));
      return response;
    }).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(502, { "content-length": 0 }).end();
      else response.destroy(error instanceof Error ? error : undefined);
    });
  });
}

// Run directly (`node --import tsx bench/bare-proxy.ts PORT UPSTREAM_ORIGIN`): listen and print the port.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = createBareProxy(process.argv[3] ?? "http://127.0.0.1:8080");
  server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => process.stdout.write(`listening ${(server.address() as net.AddressInfo).port}\n`));
  process.on("SIGTERM", () => process.exit(0));
}
