/**
 * Hand-written async iterables for the streaming hot path. Every async generator a streamed part
 * passes through costs a few promises per part; these cost nothing per part (`deferIterable`
 * hands the inner iterator's results through untouched) or nothing at all beyond the array.
 */

/**
 * An iterable that runs `start` on the first `next()` and then is the iterable it resolved to.
 * Work that must happen before a stream's first part (validation, a cache lookup) runs there, and
 * its errors reject that first `next()`, as they would in a generator.
 */
export function deferIterable<T>(start: () => Promise<AsyncIterable<T>>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): BatchingIterator<T> {
      let inner: AsyncIterator<T> | undefined;
      let opening: Promise<AsyncIterator<T>> | undefined;
      const open = () => (opening ??= start().then((iterable) => (inner = iterable[Symbol.asyncIterator]())));
      return {
        next: () => (inner !== undefined ? inner.next() : open().then((iterator) => iterator.next())),
        nextBatch: () => (inner !== undefined ? nextBatchOf(inner) : open().then(nextBatchOf)),
        return: async (value?: unknown) => {
          const result = inner === undefined ? undefined : await inner.return?.(value);
          return result ?? { done: true, value: value as T };
        },
      };
    },
  };
}

/** The values of an array as an async iterable (which hands them all over as one batch). */
export function iterableOf<T>(values: readonly T[]): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): BatchingIterator<T> {
      let index = 0;
      return {
        next: () => Promise.resolve(index < values.length ? { done: false, value: values[index++]! } : { done: true, value: undefined }),
        nextBatch: () => {
          if (index >= values.length) return Promise.resolve({ done: true, value: undefined });
          const rest = values.slice(index);
          index = values.length;
          return Promise.resolve({ done: false, value: rest });
        },
        return: (value?: unknown) => {
          index = values.length;
          return Promise.resolve({ done: true, value: value as T });
        },
      };
    },
  };
}

/**
 * An async iterator that can also hand over, in one step, every value it has ready. A streamed
 * answer arrives from upstream a TCP read at a time, and one read often holds many parts; passed on
 * as a batch, they cost the layers in between one promise each instead of one per part. Values,
 * their order and the end are the same whichever method is used; layers that know nothing of
 * batches keep working on `next()`.
 */
export interface BatchingIterator<T> extends AsyncIterator<T> {
  /** One or more values (all those ready now, else the next to arrive), or the end. */
  nextBatch(): Promise<IteratorResult<readonly T[]>>;
}

/** The next batch of any async iterator: its own when it batches, else its next value alone. */
export function nextBatchOf<T>(iterator: AsyncIterator<T>): Promise<IteratorResult<readonly T[]>> {
  const batching = (iterator as Partial<BatchingIterator<T>>).nextBatch;
  if (batching !== undefined) return batching.call(iterator);
  return iterator.next().then(single);
}

function single<T>(result: IteratorResult<T>): IteratorResult<readonly T[]> {
  return result.done === true ? (result as IteratorReturnResult<unknown>) : { done: false, value: [result.value] };
}

/** Values produced in batches (arrays, none of them empty) as a stream of single values that also batches. */
export function flattenBatches<T>(batches: AsyncIterable<readonly T[]>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): BatchingIterator<T> {
      const source = batches[Symbol.asyncIterator]();
      let buffered: readonly T[] = [];
      let position = 0;
      const take = (): IteratorResult<T> => ({ done: false, value: buffered[position++]! });
      return {
        next() {
          if (position < buffered.length) return Promise.resolve(take());
          return source.next().then((result) => {
            if (result.done === true) return result as IteratorReturnResult<undefined>;
            buffered = result.value;
            position = 0;
            return take();
          });
        },
        nextBatch() {
          if (position < buffered.length) {
            const rest = buffered.slice(position);
            position = buffered.length;
            return Promise.resolve({ done: false, value: rest });
          }
          return source.next();
        },
        return: async (value?: unknown) => {
          position = buffered.length;
          await source.return?.(value);
          return { done: true, value: value as T };
        },
      };
    },
  };
}
