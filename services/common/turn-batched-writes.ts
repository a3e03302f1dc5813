/** A socket whose writes can be held back (net.Socket, or a ServerResponse's socket). */
export interface CorkableSocket {
  cork(): void;
  uncork(): void;
}

/** A response that can be ended with a last piece of body (node:http's ServerResponse). */
export interface EndableResponse {
  readonly writableEnded: boolean;
  end(body: string): unknown;
  destroy(error?: Error): unknown;
}

let held: CorkableSocket[] = [];
let ending: { readonly response: EndableResponse; readonly body: string }[] = [];
let flushScheduled = false;

function flushTurn(): void {
  flushScheduled = false;
  const answers = ending;
  const sockets = held;
  ending = [];
  held = [];
  for (const { response, body } of answers) {
    // Ended meanwhile (by a second answer, or a closed connection): the first end stands.
    if (response.writableEnded) continue;
    try {
      response.end(body);
    } catch (error) {
      // One broken response must not keep the rest of the turn's answers (or sockets) back.
      response.destroy(error as Error);
    }
  }
  for (const socket of sockets) socket.uncork();
}

function scheduleFlush(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(flushTurn);
}

/*
 * Why: on loopback a write runs the receiver's TCP input and wakes it up; waking a sleeping peer
 * costs a cross-core interrupt, which in a VM is the most expensive part of the write. A gateway
 * under load finishes many requests per turn of the event loop: written as each is ready, with
 * ~100 µs of work between them, each write finds its peer asleep again; written back to back at the
 * end of the turn (the check phase right after the I/O callbacks), only the first does. Nothing
 * waits on a timer: bytes produced in a turn leave in that turn, so a lone request is written only
 * the rest of its turn later (~5 µs measured).
 */

/**
 * Holds what is written to `socket` from now until the end of this turn of the event loop, then
 * lets it go together with every other socket held in the turn. Each call corks once and is uncorked
 * once; calling it twice for one socket in a turn is fine, and a socket destroyed meanwhile is
 * uncorked harmlessly. node:http's `end()` uncorks its socket fully: end a held response with
 * `endAtTurnEnd`.
 */
export function holdWritesUntilTurnEnds(socket: CorkableSocket): void {
  socket.cork();
  held.push(socket);
  scheduleFlush();
}

/**
 * Ends `response` with `body` at the end of this turn, before the held sockets are let go. Write its
 * head first (writeHead), so that `headersSent` tells everyone it is answered: `writableEnded` turns
 * true only at the turn's end, and a response ended before then keeps that first ending.
 */
export function endAtTurnEnd(response: EndableResponse, body: string): void {
  ending.push({ response, body });
  scheduleFlush();
}
