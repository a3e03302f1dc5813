import type { ServerResponse } from "node:http";

/**
 * Writes a JSON answer straight to the socket. Express's `res.json` also negotiates charsets, checks
 * freshness and can hash an ETag; none of that applies to an API answer, and this path is hot.
 */
export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.statusCode = status;
  response.setHeader("content-type", "application/json");
  response.setHeader("content-length", Buffer.byteLength(text));
  response.end(text);
}
