import type { ServerResponse } from "node:http";
import { endAtTurnEnd } from "../services/common/turn-batched-writes.js";

/**
 * Writes a JSON answer straight to the socket. Express's `res.json` also negotiates charsets, checks
 * freshness and can hash an ETag; none of that applies to an API answer, and this path is hot. The
 * answers finished in one turn of the event loop leave together at its end (turn-batched-writes.ts).
 */
export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  // The head is final now (headersSent): nothing can answer this request a second time meanwhile.
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  endAtTurnEnd(response, text);
}
