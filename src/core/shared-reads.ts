// Reads an adapter shares between callers and keeps for a while, one per key (a scope a walk names):
// a listing that a walk's later pages page through instead of reading it again.
import { LRUCache } from "lru-cache";

export interface SharedRead<T> {
  /** Date.now() when the read began. */
  startedAt: number;
  /** The read has finished (successfully: a failed one is not kept). */
  settled: boolean;
  promise: Promise<T>;
}

/**
 * At most `max` reads, the least recently used forgotten. A read in flight is shared by every caller
 * and never expires; a finished one serves `ttlMs` from when it began (with `ttlMs` ≤ 0 it is dropped
 * once finished); a failed one is dropped.
 */
export class SharedReads<T> {
  private readonly reads: LRUCache<string, SharedRead<T>>;

  constructor(
    max: number,
    private readonly ttlMs: number,
  ) {
    // On Date.now()'s clock, so a finished read's TTL can count from its startedAt.
    this.reads = new LRUCache({ max, perf: Date });
  }

  /** The read kept under `key`, or one begun now with `read`; `fresh` refuses a finished one. */
  get(key: string, fresh: boolean, read: () => Promise<T>): SharedRead<T> {
    const kept = this.reads.get(key);
    if (kept !== undefined && !(fresh && kept.settled)) return kept;
    const entry: SharedRead<T> = { startedAt: Date.now(), settled: false, promise: read() };
    entry.promise.then(
      () => {
        entry.settled = true;
        if (this.reads.peek(key) !== entry) return;
        if (this.ttlMs > 0) this.reads.set(key, entry, { ttl: this.ttlMs, start: entry.startedAt });
        else this.reads.delete(key);
      },
      () => {
        if (this.reads.peek(key) === entry) this.reads.delete(key);
      },
    );
    this.reads.set(key, entry);
    return entry;
  }

  clear(): void {
    this.reads.clear();
  }

  /** Reads kept now, expired ones not yet dropped included. */
  get size(): number {
    return this.reads.size;
  }
}
