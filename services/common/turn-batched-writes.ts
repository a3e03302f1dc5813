/** A socket whose writes can be held back (net.Socket, or a ServerResponse's socket). */
export interface CorkableSocket {
  cork(): void;
  uncork(): void;
}

let held: CorkableSocket[] = [];
let flushScheduled = false;

function flushHeld(): void {
  flushScheduled = false;
  const sockets = held;
  held = [];
  for (const socket of sockets) socket.uncork();
}

/**
 * Holds what is written to `socket` from now until the end of this turn of the event loop (the
 * check phase right after the I/O callbacks that are running), then lets it go: every socket held in
 * a turn is written back to back, with no JavaScript between the writes.
 *
 * On loopback a write runs the receiver's TCP input and wakes it up; waking a sleeping peer costs a
 * cross-core interrupt, which in a VM is the most expensive part of the write. A gateway under load
 * answers many requests per turn: written as they are ready, with ~100 µs of work between them,
 * each write finds its peer asleep again; written together, only the first does. Nothing waits on a
 * timer: bytes read in one turn leave in the same turn, and one request alone gains no latency.
 *
 * Every call must be balanced, so it corks once and uncorks once; calling it twice for one socket in
 * a turn is fine. A socket destroyed meanwhile is uncorked harmlessly.
 */
export function holdWritesUntilTurnEnds(socket: CorkableSocket): void {
  socket.cork();
  held.push(socket);
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(flushHeld);
}
