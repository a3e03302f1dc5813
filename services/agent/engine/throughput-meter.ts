/** Tokens per second over a sliding window, for heartbeats. */
export interface ThroughputMeter {
  add(tokens: number, now?: number): void;
  rate(now?: number): number;
}

/** A meter over the last `windowMs`, kept in one-second buckets so memory stays constant. */
export function createThroughputMeter(windowMs: number): ThroughputMeter {
  const bucketCount = Math.max(1, Math.ceil(windowMs / 1000));
  const counts = new Array<number>(bucketCount).fill(0);
  const seconds = new Array<number>(bucketCount).fill(-1);
  return {
    add(tokens, now = Date.now()) {
      const second = Math.floor(now / 1000);
      const slot = second % bucketCount;
      if (seconds[slot] !== second) {
        seconds[slot] = second;
        counts[slot] = 0;
      }
      counts[slot]! += tokens;
    },
    rate(now = Date.now()) {
      const second = Math.floor(now / 1000);
      let total = 0;
      for (let slot = 0; slot < bucketCount; slot++) {
        if (second - seconds[slot]! < bucketCount) total += counts[slot]!;
      }
      return total / bucketCount;
    },
  };
}
