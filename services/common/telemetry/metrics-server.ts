import http from "node:http";
import type net from "node:net";
import type { Metrics } from "./metrics.js";

/** A plain HTTP server answering `GET /metrics`, for processes without an HTTP API of their own. */
export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `metrics` at `http://host:port/metrics`; everything else is 404. */
export async function listenMetrics(options: { metrics: Metrics; host: string; port: number }): Promise<MetricsServer> {
  const server = http.createServer((request, response) => {
    const path = request.url?.split("?", 1)[0];
    if (path === "/metrics" && (request.method === "GET" || request.method === "HEAD")) {
      options.metrics.handleScrape(request, response);
      return;
    }
    response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
