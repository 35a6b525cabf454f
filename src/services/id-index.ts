// The id index as services use it: deterministic ids (images, repositories) recorded in the store
// whenever one is handed out, and resolved back, with the caller's view deciding what exists.
import { notFound } from "../core/errors.js";
import { WeightedLru } from "../core/lru.js";
import type { RegistryView } from "../core/catalog.js";
import type { ImageRef, RepositoryRef, Store } from "../core/store.js";

/**
 * Ids this process saw recorded in the store, per index, before the set starts again (a List then
 * records its page once more, which the store ignores). Only the id is kept: about 80 bytes each.
 */
const RECORDED_IDS_KEPT = 200_000;
/** What ids name, kept for Gets, per index (each entry a few hundred bytes). */
const RESOLVED_IDS_KEPT = 20_000;

export interface IdStore<Ref> {
  record(entries: Array<Ref & { id: string }>): Promise<void>;
  resolve(id: string): Promise<Ref | undefined>;
}

/**
 * An id is a hash of what it names, so the mapping never changes: a List writes only ids this process
 * has not yet seen in the store (no write, so no fsync, when repeated), and a hot Get skips the store.
 * The two are kept apart so that a walk over a large registry holds ids, not what they name.
 */
export class IdIndex<Ref extends { registryId: string }> {
  private readonly recorded = new Set<string>();
  private readonly resolved = new WeightedLru<string, Ref>(RESOLVED_IDS_KEPT);

  /** `what` names the resource in NOT_FOUND ("image", "repository"). */
  constructor(
    private readonly what: string,
    private readonly store: IdStore<Ref>,
  ) {}

  async record(entries: Array<Ref & { id: string }>): Promise<void> {
    const fresh = entries.filter((e) => !this.recorded.has(e.id));
    if (fresh.length === 0) return;
    await this.store.record(fresh);
    if (this.recorded.size + fresh.length > RECORDED_IDS_KEPT) this.recorded.clear();
    for (const e of fresh) this.recorded.add(e.id);
  }

  /** What the id names, when it names something in the caller's registries; undefined otherwise. */
  async find(id: string, scope: RegistryView): Promise<Ref | undefined> {
    let ref = this.resolved.get(id);
    if (ref === undefined) {
      ref = await this.store.resolve(id);
      if (ref !== undefined) this.resolved.set(id, ref, 1);
    }
    return ref !== undefined && scope.hasRegistry(ref.registryId) ? ref : undefined;
  }

  /** An id outside the caller's registries is NOT_FOUND, as one that never existed. */
  async resolve(id: string, scope: RegistryView): Promise<Ref> {
    const ref = await this.find(id, scope);
    if (ref === undefined) throw notFound(this.what, id);
    return ref;
  }
}

/** The indexes of one process, shared by every service that hands out or takes these ids. */
export interface IdIndexes {
  images: IdIndex<ImageRef>;
  repositories: IdIndex<RepositoryRef>;
}

export function idIndexes(store: Store): IdIndexes {
  return {
    images: new IdIndex<ImageRef>("image", { record: (e) => store.recordImageIds(e), resolve: (id) => store.resolveImageId(id) }),
    repositories: new IdIndex<RepositoryRef>("repository", { record: (e) => store.recordRepositoryIds(e), resolve: (id) => store.resolveRepositoryId(id) }),
  };
}
