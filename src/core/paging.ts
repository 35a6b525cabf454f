// Listing images across the registries of a scope with one position, for one page token.
//
// The position holds one entry per registry in scope (start / cursor or key / done), so every
// registry resumes exactly where it stopped and an unreachable registry is retried on the next page
// without skipping anything:
// - Without an order, registries are walked in scope order, each with its native cursor. When the
//   current registry fails, the page goes on with later ones; the failed one keeps its entry, and as the
//   walk always resumes at the first registry not done, the next page tries it again first. Its images
//   may then come after images of later registries (the one exception to scope order).
// - With an order, the registries' ordered streams are merged into one global order: the order terms
//   with `name` meaning the full name "<registry id>/<repository>", then that full name, then the
//   digest. Each registry resumes strictly after the last image it contributed: for one registry the
//   global order is its own order, so its last key is an exact keyset cursor. (One global key would
//   need an "after every repository" bound to translate into another registry's order, which a
//   provider's `after` cannot express.) A registry unreachable for a page keeps its key; when it comes
//   back, its images that sort before images already returned come late, never lost nor repeated.
//
// The position's bytes are written by positions.ts.

import { createHash } from "node:crypto";
import { Code, invalidField, isRegplaneError, nothingListed, RegplaneError } from "./errors.js";
import { compareImages, imageKeyOf } from "./order.js";
import { onAbort, Semaphore } from "./resilience.js";
import { decodeWalkPosition, encodeWalkPosition, invalidPosition, type StreamPosition } from "./positions.js";
import type { ImageKey, ImagePage, ListImagesQuery, Provider } from "./provider.js";
import type { ImageRecord, OrderTerm } from "./types.js";

export const DEFAULT_REGISTRY_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_PARALLEL = 16;

export interface RepositoryRef {
  registryId: string;
  repository: string;
}

export interface ListImagesAcrossParams {
  /** The registries of the scope, in scope order. */
  registries: readonly Provider[];
  /** Empty: scope order with native cursors. */
  order: readonly OrderTerm[];
  /** The name="<registry id>/<repository>" filter, split; only the named registry is asked. */
  nameEquals?: RepositoryRef;
  /** The repository_name scope, split; only that registry is asked. */
  repository?: RepositoryRef;
  pageSize: number;
  /** The position from the request's page token; undefined for the first page. */
  state?: Uint8Array;
  /** The caller's cancellation. */
  signal?: AbortSignal;
  /** Absolute time (ms since the epoch) by which the page must be returned. */
  deadlineMs?: number;
  /** Longest one provider call may take before its registry counts as unreachable for this page. */
  perRegistryTimeoutMs?: number;
  /** Provider calls in flight at once for this page. */
  maxParallel?: number;
}

export interface ImagesAcrossPage {
  images: ImageRecord[];
  /** Ids of registries that could not be listed for this page; the next page tries them again. */
  unreachable: string[];
  /** Position of the next page; undefined when the walk is over. */
  next?: Uint8Array;
}

/**
 * One page of images across registries. A page is full unless the walk is over, except when the
 * deadline leaves no time for another provider call. Throws nothingListed() (errors.ts) when every
 * registry asked for this page failed, INVALID_ARGUMENT on page_token for a position that does not fit
 * the request, CANCELLED when the caller gives up.
 */
export async function listImagesAcross(params: ListImagesAcrossParams): Promise<ImagesAcrossPage> {
  const registries = registriesInScope(params);
  const ordered = params.order.length > 0;
  const scope = scopeFingerprint(registries);
  let streams: StreamPosition[];
  if (params.state === undefined) {
    streams = registries.map((): StreamPosition => ({ kind: "start" }));
  } else {
    const position = decodeWalkPosition(params.state, registries.length);
    if (position.ordered !== ordered) throw invalidPosition();
    if (position.scope !== scope) {
      throw invalidField("page_token", "the registries in scope changed since the page token was issued; list again from the first page", "page_token.scope_changed");
    }
    streams = position.streams;
  }
  if (!(params.pageSize >= 1)) throw invalidField("page_size", "page_size must be positive");

  const walk = new Walk(registries, params);
  try {
    if (ordered) await walk.merge(streams, params.order, params.pageSize);
    else await walk.native(streams, params.pageSize);
  } finally {
    walk.abortOutstanding();
  }
  walk.throwIfNothingServed();
  const over = streams.every((s) => s.kind === "done");
  return {
    images: walk.images,
    unreachable: walk.unreachableIds(),
    next: over ? undefined : encodeWalkPosition({ ordered, scope, streams }),
  };
}

function registriesInScope(params: ListImagesAcrossParams): readonly Provider[] {
  let registries = params.registries;
  const { repository, nameEquals } = params;
  if (repository) registries = registries.filter((r) => r.id === repository.registryId);
  if (nameEquals) {
    const contradicts = nameEquals.repository === "" || (repository !== undefined && repository.repository !== nameEquals.repository);
    registries = contradicts ? [] : registries.filter((r) => r.id === nameEquals.registryId);
  }
  return registries;
}

type Outcome = { kind: "ok"; page: ImagePage } | { kind: "failed"; error: unknown } | { kind: "no-time" };

interface Fetch {
  limit: number;
  promise: Promise<Outcome>;
  settled?: Outcome;
}

/** An image in the merge, with the key it resumes from and the key it sorts by globally. */
interface Head {
  image: ImageRecord;
  key: ImageKey;
  globalKey: ImageKey;
}

interface MergeStream {
  index: number;
  buffer: Head[];
  next: number;
  /** The registry said nothing follows the buffer. */
  exhausted: boolean;
  failed: boolean;
  /** Key the next fetch starts after: the last image fetched, or the position's key. */
  fetchAfter?: ImageKey;
}

/** The work of one page: provider calls with timeouts and a concurrency limit, and what they gave. */
class Walk {
  readonly images: ImageRecord[] = [];
  private readonly failed = new Set<number>();
  /** The first error of each failed registry, by its index in scope. */
  private readonly failures = new Map<number, unknown>();
  private served = false;
  private outOfTime = false;
  /** Registries whose call was cut by the call's deadline (not by their own timeout). */
  private readonly cutByDeadline = new Set<number>();
  /** Set when the page is complete: lookahead calls still queued are not started. */
  private closed = false;
  private readonly controllers = new Set<AbortController>();
  private readonly permits: Semaphore;
  private readonly timeoutMs: number;
  private readonly maxParallel: number;

  constructor(
    private readonly registries: readonly Provider[],
    private readonly params: ListImagesAcrossParams,
  ) {
    this.timeoutMs = params.perRegistryTimeoutMs ?? DEFAULT_REGISTRY_TIMEOUT_MS;
    this.maxParallel = Math.max(1, params.maxParallel ?? DEFAULT_MAX_PARALLEL);
    this.permits = new Semaphore(this.maxParallel);
  }

  /** Scope order, native cursors; prefetches later registries while the current one may not fill the page. */
  async native(streams: StreamPosition[], pageSize: number): Promise<void> {
    const fetches = new Map<number, Fetch>();
    const start = (i: number, limit: number): Fetch => {
      const s = streams[i];
      const fetch: Fetch = { limit, promise: this.call(i, { nativeCursor: s.kind === "cursor" ? s.cursor : undefined, limit }) };
      void fetch.promise.then((o) => (fetch.settled = o));
      fetches.set(i, fetch);
      return fetch;
    };
    const open = (from: number): number => {
      let i = from;
      while (i < streams.length && (streams[i].kind === "done" || this.failed.has(i))) i++;
      return i;
    };

    // Look ahead only once the current registry is at its start (size unknown) or ran out mid-page:
    // a registry resumed from a cursor usually fills the page alone.
    let lookAhead = false;
    let i = open(0);
    while (i < streams.length && this.images.length < pageSize) {
      const need = pageSize - this.images.length;
      if (streams[i].kind === "start") lookAhead = true;
      const current = fetches.get(i) ?? start(i, need);
      if (lookAhead) {
        for (let j = open(i + 1), ahead = 1; j < streams.length && ahead < this.maxParallel; j = open(j + 1), ahead++) {
          if (!fetches.has(j)) start(j, need);
        }
      }
      const outcome = await current.promise;
      fetches.delete(i);
      if (outcome.kind === "no-time") break;
      if (outcome.kind === "failed") {
        this.fail(i, outcome.error);
        i = open(i + 1);
        continue;
      }
      this.served = true;
      const { page } = outcome;
      // A native cursor can only resume after a whole response, so a response larger than the room
      // left is asked again with the exact room.
      if (page.images.length > need) {
        if (current.limit <= need) {
          this.fail(i, new Error(`registry returned ${page.images.length} images when asked for at most ${current.limit}`));
          i = open(i + 1);
        } else {
          start(i, need);
        }
        continue;
      }
      this.images.push(...page.images);
      const s = streams[i];
      const sentCursor = s.kind === "cursor" ? s.cursor : undefined;
      // A registry that is not done must hand back a new cursor, or asking again would repeat itself.
      if (page.done || page.nativeCursor === undefined || page.nativeCursor === sentCursor) {
        streams[i] = { kind: "done" };
        lookAhead = true;
        i = open(i + 1);
      } else {
        streams[i] = { kind: "cursor", cursor: page.nativeCursor };
      }
    }
    // A token must promise more images: when the page ends at a registry boundary, ask the registries
    // after it that were never asked (in parallel, one image each) and end the walk if all are empty.
    // (A fetch still in the map was started from its registry's current entry.)
    const trailing: number[] = [];
    for (let j = open(i); j < streams.length && trailing.length < this.maxParallel; j = open(j + 1)) {
      if (streams[j].kind !== "start") break;
      trailing.push(j);
      if (!fetches.has(j)) start(j, 1);
    }
    for (const j of trailing) {
      const settled = await fetches.get(j)!.promise;
      if (settled.kind !== "ok" || settled.page.images.length > 0 || !settled.page.done) break;
      streams[j] = { kind: "done" };
    }
  }

  /** K-way merge of the registries' ordered streams, each resuming after its own last key. */
  async merge(streams: StreamPosition[], order: readonly OrderTerm[], pageSize: number): Promise<void> {
    const merging: MergeStream[] = [];
    streams.forEach((s, index) => {
      if (s.kind === "done") return;
      merging.push({ index, buffer: [], next: 0, exhausted: false, failed: false, fetchAfter: s.kind === "after" ? s.key : undefined });
    });
    // The full name "<registry id>/<repository>" stands in for the repository, for `name` and the tiebreak.
    const globalKey = (index: number, key: ImageKey): ImageKey => ({ ...key, repository: `${this.registries[index].id}/${key.repository}` });
    const lastEmitted = new Map<number, ImageKey>();

    while (this.images.length < pageSize) {
      const empty = merging.filter((m) => !m.failed && !m.exhausted && m.next >= m.buffer.length);
      if (empty.length > 0) {
        const need = pageSize - this.images.length;
        const outcomes = await Promise.all(
          empty.map((m) => this.call(m.index, { after: m.fetchAfter, limit: need })),
        );
        outcomes.forEach((outcome, n) => {
          const m = empty[n];
          if (outcome.kind === "failed") {
            m.failed = true;
            this.fail(m.index, outcome.error);
            return;
          }
          if (outcome.kind !== "ok") return;
          this.served = true;
          m.buffer = outcome.page.images.map((image) => {
            const key = imageKeyOf(image);
            return { image, key, globalKey: globalKey(m.index, key) };
          });
          m.next = 0;
          // Asking again after an empty answer would get the same empty answer.
          m.exhausted = outcome.page.done || m.buffer.length === 0;
          if (m.buffer.length > 0) m.fetchAfter = m.buffer[m.buffer.length - 1].key;
        });
        if (outcomes.some((o) => o.kind === "no-time")) break;
        continue;
      }
      let best: MergeStream | undefined;
      for (const m of merging) {
        if (m.failed || m.next >= m.buffer.length) continue;
        if (!best || compareImages(m.buffer[m.next].globalKey, best.buffer[best.next].globalKey, order) < 0) best = m;
      }
      if (!best) break;
      const head = best.buffer[best.next++];
      this.images.push(head.image);
      lastEmitted.set(best.index, head.key);
    }

    for (const m of merging) {
      const last = lastEmitted.get(m.index);
      if (!m.failed && m.exhausted && m.next >= m.buffer.length) streams[m.index] = { kind: "done" };
      else if (last) streams[m.index] = { kind: "after", key: last };
    }
  }

  /** One provider call: bounded by the concurrency limit, the per-registry timeout and the deadline. */
  private async call(index: number, query: Pick<ListImagesQuery, "after" | "nativeCursor" | "limit">): Promise<Outcome> {
    let release: () => void;
    try {
      release = await this.permits.acquire(this.params.signal);
    } catch (error) {
      return { kind: "failed", error };
    }
    try {
      if (this.closed) return { kind: "failed", error: new RegplaneError(Code.CANCELLED, "page complete") };
      const timeout = this.timeLeft();
      if (timeout <= 0) {
        this.outOfTime = true;
        return { kind: "no-time" };
      }
      const controller = new AbortController();
      this.controllers.add(controller);
      const parent = this.params.signal;
      const stopListening = parent === undefined ? undefined : onAbort(parent, () => controller.abort(parent.reason));
      if (parent?.aborted) controller.abort(parent.reason);
      const byDeadline = timeout < this.timeoutMs;
      const timer = setTimeout(() => {
        if (byDeadline) this.cutByDeadline.add(index);
        controller.abort(new RegplaneError(Code.DEADLINE_EXCEEDED, `registry call timed out after ${timeout} ms`));
      }, timeout);
      try {
        const provider = this.registries[index];
        const full: ListImagesQuery = {
          repository: this.params.repository?.repository,
          nameEquals: this.params.nameEquals?.repository,
          order: [...this.params.order],
          after: query.after,
          nativeCursor: query.nativeCursor,
          limit: query.limit,
          signal: controller.signal,
        };
        // A provider that ignores its signal must not hold the page: the abort settles the race.
        const aborted = new Promise<never>((_, reject) => {
          if (controller.signal.aborted) reject(controller.signal.reason);
          controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
        });
        const page = await Promise.race([provider.listImages(full), aborted]);
        return { kind: "ok", page };
      } catch (error) {
        return { kind: "failed", error };
      } finally {
        clearTimeout(timer);
        stopListening?.();
        this.controllers.delete(controller);
      }
    } finally {
      release();
    }
  }

  private timeLeft(): number {
    const deadline = this.params.deadlineMs;
    return deadline === undefined ? this.timeoutMs : Math.min(this.timeoutMs, deadline - Date.now());
  }

  private fail(index: number, error: unknown): void {
    this.checkCancelled();
    if (!this.failed.has(index)) this.failures.set(index, error);
    this.failed.add(index);
  }

  private checkCancelled(): void {
    const signal = this.params.signal;
    if (!signal?.aborted) return;
    const reason: unknown = signal.reason;
    if (isRegplaneError(reason)) throw reason;
    const timedOut = reason instanceof Error && reason.name === "TimeoutError";
    throw new RegplaneError(timedOut ? Code.DEADLINE_EXCEEDED : Code.CANCELLED, timedOut ? "the deadline passed while listing" : "the listing was cancelled");
  }

  /** Calls still running when the page is complete (lookahead that was not needed) are stopped. */
  abortOutstanding(): void {
    this.closed = true;
    for (const controller of this.controllers) controller.abort(new RegplaneError(Code.CANCELLED, "page complete"));
  }

  throwIfNothingServed(): void {
    this.checkCancelled();
    if (this.served) return;
    // Nothing answered because the caller's deadline passed: that is the call's outcome, not the registries'.
    if (this.failed.size > 0 && [...this.failed].every((i) => this.cutByDeadline.has(i))) {
      throw new RegplaneError(Code.DEADLINE_EXCEEDED, "the deadline passed before any registry answered");
    }
    // Say why, per registry: adapter messages name the registry and never carry credentials.
    if (this.failed.size > 0) throw nothingListed([...this.failed].sort((a, b) => a - b).map((i) => ({ registryId: this.registries[i].id, error: this.failures.get(i) })));
    if (this.outOfTime) throw new RegplaneError(Code.DEADLINE_EXCEEDED, "the deadline passed before any registry answered");
  }

  unreachableIds(): string[] {
    return [...this.failed].sort((a, b) => a - b).map((i) => this.registries[i].id);
  }

}

function scopeFingerprint(registries: readonly Provider[]): number {
  const hash = createHash("sha256");
  for (const r of registries) hash.update(r.id).update("\0");
  return hash.digest().readUInt32BE(0);
}
