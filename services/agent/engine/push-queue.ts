/**
 * Bridges callbacks (node-llama-cpp's onTextChunk) to an async iterator: `push` never blocks the
 * producer, the consumer awaits the next item, and `end`/`fail` close the stream.
 */
export interface PushQueue<T> extends AsyncIterable<T> {
  push(item: T): void;
  end(): void;
  fail(error: unknown): void;
  /** Everything queued at each wake-up, in order: a slow reader takes what piled up in one go. */
  batches(): AsyncIterable<T[]>;
}

/** A queue for one producer and one consumer. */
export function createPushQueue<T>(): PushQueue<T> {
  const items: T[] = [];
  let ended = false;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  return {
    push(item) {
      items.push(item);
      notify();
    },
    end() {
      ended = true;
      notify();
    },
    fail(error) {
      failure = { error };
      notify();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (items.length > 0) yield items.shift()!;
        if (failure !== undefined) throw failure.error;
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    async *batches() {
      for (;;) {
        if (items.length > 0) yield items.splice(0, items.length);
        if (failure !== undefined) throw failure.error;
        if (ended && items.length === 0) return;
        if (items.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
}
