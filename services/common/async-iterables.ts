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
    [Symbol.asyncIterator](): AsyncIterator<T> {
      let inner: AsyncIterator<T> | undefined;
      let opening: Promise<AsyncIterator<T>> | undefined;
      const open = () => (opening ??= start().then((iterable) => (inner = iterable[Symbol.asyncIterator]())));
      return {
        next: () => (inner !== undefined ? inner.next() : open().then((iterator) => iterator.next())),
        return: async (value?: unknown) => {
          const result = inner === undefined ? undefined : await inner.return?.(value);
          return result ?? { done: true, value: value as T };
        },
      };
    },
  };
}

/** The values of an array as an async iterable. */
export function iterableOf<T>(values: readonly T[]): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      let index = 0;
      return {
        next: () => Promise.resolve(index < values.length ? { done: false, value: values[index++]! } : { done: true, value: undefined }),
        return: (value?: unknown) => {
          index = values.length;
          return Promise.resolve({ done: true, value: value as T });
        },
      };
    },
  };
}
