import { Code, ConnectError } from "@connectrpc/connect";

/** Admission control for one context: `parallel` requests decode at once, `maxQueue` more may wait. */
export interface SequenceSlots {
  /** Waits for a slot; ResourceExhausted when the queue is full, Canceled when `signal` fires first. */
  acquire(signal: AbortSignal): Promise<() => void>;
  /** Requests holding a slot. */
  readonly active: number;
  /** Requests waiting for one. */
  readonly queued: number;
}

interface Waiter {
  grant: (release: () => void) => void;
  fail: (error: ConnectError) => void;
}

/** Slots for `parallel` sequences with a bounded FIFO queue in front of them. */
export function createSequenceSlots(parallel: number, maxQueue: number): SequenceSlots {
  let active = 0;
  const waiting: Waiter[] = [];

  const release = () => {
    const next = waiting.shift();
    if (next === undefined) active -= 1;
    else next.grant(releaser());
  };
  const releaser = () => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      release();
    };
  };

  return {
    get active() {
      return active;
    },
    get queued() {
      return waiting.length;
    },
    acquire(signal) {
      if (signal.aborted) return Promise.reject(canceled());
      if (active < parallel) {
        active += 1;
        return Promise.resolve(releaser());
      }
      if (waiting.length >= maxQueue) {
        const error = new ConnectError(`the agent is busy: ${active} requests running and ${waiting.length} queued; retry shortly`, Code.ResourceExhausted);
        error.metadata.set("retry-after", "1");
        return Promise.reject(error);
      }
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          grant: (granted) => {
            signal.removeEventListener("abort", onAbort);
            resolve(granted);
          },
          fail: reject,
        };
        const onAbort = () => {
          const index = waiting.indexOf(waiter);
          if (index >= 0) waiting.splice(index, 1);
          reject(canceled());
        };
        signal.addEventListener("abort", onAbort, { once: true });
        waiting.push(waiter);
      });
    },
  };
}

function canceled(): ConnectError {
  return new ConnectError("the request was canceled while waiting for a sequence", Code.Canceled);
}
