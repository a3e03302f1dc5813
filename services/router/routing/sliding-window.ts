/**
 * Counts of named events over the last `windowMs`, kept in a ring of buckets so an old burst leaves
 * the window a bucket at a time (never all at once, as a fixed window would) at a constant cost.
 */
export interface SlidingWindow<Name extends string> {
  add(name: Name, now: number): void;
  count(name: Name, now: number): number;
}

/** Creates a window of `buckets` slices (default 10) over `windowMs`. */
export function createSlidingWindow<Name extends string>(names: readonly Name[], windowMs: number, buckets = 10): SlidingWindow<Name> {
  const sliceMs = Math.max(1, Math.ceil(windowMs / buckets));
  // Each slice remembers which period it holds, so a stale slice is recognised and reset when reused.
  const periods = new Array<number>(buckets).fill(-1);
  const counts = new Map<Name, number[]>(names.map((name) => [name, new Array<number>(buckets).fill(0)]));
  const slot = (now: number): number => {
    const period = Math.floor(now / sliceMs);
    const index = period % buckets;
    if (periods[index] !== period) {
      periods[index] = period;
      for (const list of counts.values()) list[index] = 0;
    }
    return index;
  };
  return {
    add(name, now) {
      counts.get(name)![slot(now)]! += 1;
    },
    count(name, now) {
      const oldest = Math.floor(now / sliceMs) - buckets + 1;
      const list = counts.get(name)!;
      let total = 0;
      for (let index = 0; index < buckets; index++) if (periods[index]! >= oldest) total += list[index]!;
      return total;
    },
  };
}
