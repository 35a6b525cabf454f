// The id index as services use it: deterministic ids (images, repositories) recorded in the store
// whenever one is handed out, and resolved back, with the caller's view deciding what exists.
import { notFound } from "../core/errors.js";
import { WeightedLru } from "../core/lru.js";
import type { RegistryView } from "../core/catalog.js";

/** Ids resolved in memory at most, per index (each a few hundred bytes). */
const RESOLVED_IDS_KEPT = 100_000;

export interface IdStore<Ref> {
  record(entries: Array<Ref & { id: string }>): Promise<void>;
  resolve(id: string): Promise<Ref | undefined>;
}

/**
 * An id is a hash of what it names, so the mapping never changes: a hot Get skips the store, and a List
 * writes only ids this process has not yet seen in the store (no write, so no fsync, when repeated).
 */
export class IdIndex<Ref extends { registryId: string }> {
  private readonly resolved = new WeightedLru<string, Ref>(RESOLVED_IDS_KEPT);

  /** `what` names the resource in NOT_FOUND ("image", "repository"). */
  constructor(
    private readonly what: string,
    private readonly store: IdStore<Ref>,
  ) {}

  async record(entries: Array<Ref & { id: string }>): Promise<void> {
    const fresh = entries.filter((e) => this.resolved.get(e.id) === undefined);
    if (fresh.length === 0) return;
    await this.store.record(fresh);
    for (const e of fresh) this.resolved.set(e.id, e, 1);
  }

  /** An id outside the caller's registries is NOT_FOUND, as one that never existed. */
  async resolve(id: string, scope: RegistryView): Promise<Ref> {
    let ref = this.resolved.get(id);
    if (ref === undefined) {
      ref = await this.store.resolve(id);
      if (ref !== undefined) this.resolved.set(id, ref, 1);
    }
    if (!ref || !scope.hasRegistry(ref.registryId)) throw notFound(this.what, id);
    return ref;
  }
}
