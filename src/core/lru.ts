// A weight-bounded least-recently-used map (weight is usually bytes): adapter caches of parsed layouts,
// manifests and configs must not grow with the registry, only with the bound the operator chose.
// lru-cache does the bookkeeping; this keeps the one call shape (`set(key, value, weight)`) every cache uses.
import { LRUCache } from "lru-cache";

export class WeightedLru<K extends {}, V extends {} | null> {
  private readonly cache: LRUCache<K, { value: V }> | undefined;

  /** A bound below one unit keeps nothing. */
  constructor(maxWeight: number) {
    const maxSize = Math.floor(maxWeight);
    this.cache = maxSize >= 1 ? new LRUCache<K, { value: V }>({ maxSize }) : undefined;
  }

  get(key: K): V | undefined {
    return this.cache?.get(key)?.value;
  }

  /** Replaces any entry under `key`; an entry heavier than the whole bound is not kept (and the old one is gone). */
  set(key: K, value: V, weight: number): void {
    if (this.cache === undefined) return;
    this.cache.set(key, { value }, { size: Math.max(1, Math.ceil(weight)) });
  }

  delete(key: K): void {
    this.cache?.delete(key);
  }

  clear(): void {
    this.cache?.clear();
  }

  get size(): number {
    return this.cache?.size ?? 0;
  }

  get weight(): number {
    return this.cache?.calculatedSize ?? 0;
  }
}
