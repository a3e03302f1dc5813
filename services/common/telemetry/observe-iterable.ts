import { nextBatchOf, type BatchingIterator } from "../async-iterables.js";

/** What {@link observeIterable} reports about a stream passing through. */
export interface IterableObserver<T> {
  /** Each value, before the consumer gets it. */
  value?(value: T): void;
  /** The source ended normally. */
  done?(): void;
  /** The source failed; the error returned is the one the consumer gets. */
  failed?(error: unknown): unknown;
  /** Once, after done, failed, or the consumer stopping early. */
  end?(): void;
}

/**
 * Passes a stream through unchanged while telling `observer` about it. A hand-written iterator
 * rather than an async generator: a generator layer costs a queued promise per value, and this
 * sits on every streamed part. It passes batches through too (services/common/async-iterables.ts).
 */
export function observeIterable<T>(source: AsyncIterable<T>, observer: IterableObserver<T>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): BatchingIterator<T> {
      const iterator = source[Symbol.asyncIterator]();
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        observer.end?.();
      };
      const finish = () => {
        if (!ended) observer.done?.();
        end();
      };
      const onResult = (result: IteratorResult<T>): IteratorResult<T> => {
        if (result.done) finish();
        else observer.value?.(result.value);
        return result;
      };
      const onBatch = (result: IteratorResult<readonly T[]>): IteratorResult<readonly T[]> => {
        if (result.done) {
          finish();
        } else if (observer.value !== undefined) {
          for (const value of result.value) observer.value(value);
        }
        return result;
      };
      const onError = (error: unknown): never => {
        const thrown = ended || observer.failed === undefined ? error : observer.failed(error);
        end();
        throw thrown;
      };
      return {
        next: () => {
          try {
            return iterator.next().then(onResult, onError);
          } catch (error) {
            return Promise.reject(error).catch(onError);
          }
        },
        nextBatch: () => {
          try {
            return nextBatchOf(iterator).then(onBatch, onError);
          } catch (error) {
            return Promise.reject(error).catch(onError);
          }
        },
        return: async (value?: unknown): Promise<IteratorResult<T>> => {
          try {
            return (await iterator.return?.(value)) ?? { done: true, value: value as T };
          } finally {
            end();
          }
        },
      };
    },
  };
}
