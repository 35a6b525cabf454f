// Small statistics over samples (medians, nearest-rank percentiles) and a bounded-concurrency map.

export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The index of the pair whose ratio a / b is the median (the lower middle one for an even count): on a
 * shared machine a pair measured back to back shares its conditions, which a ratio of medians would not.
 */
export function medianPair(a: readonly number[], b: readonly number[]): number {
  if (a.length === 0 || a.length !== b.length) throw new RangeError("medianPair needs two non-empty lists of one length");
  const order = a.map((_, i) => i).sort((i, j) => a[i] / b[i] - a[j] / b[j]);
  return order[(order.length - 1) >> 1];
}

/** Runs `fn` over items with at most `limit` in flight, keeping the order of results. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
