// The listing steps every adapter shares: narrowing a query to one repository, keyset slicing of a
// sorted snapshot (of images, or of names), repositories read as names of a listing or got by name, the provider's
// date fields, the page-size floor, and the records of a configured registry and of a registry an account holds.
import { compareImages, type Orderable } from "./order.js";
import type { ImageKey, ListImagesQuery, ListRepositoriesQuery } from "./provider.js";
import type { Capability, OrderTerm, RegistryRecord, RepositoryRecord } from "./types.js";

/** How long a repository's listing is reused while the registry says it is unchanged, unless the entry sets listingCacheTtl. */
export const DEFAULT_LISTING_CACHE_TTL_MS = 30_000;

/**
 * The one repository a query is narrowed to: undefined for every repository; null when the repository
 * and name filters contradict each other or name no repository `isRepository` accepts.
 */
export function narrowedRepository(query: Pick<ListImagesQuery, "repository" | "nameEquals">, isRepository: (name: string) => boolean): string | undefined | null {
  const names = [query.repository, query.nameEquals].filter((n): n is string => n !== undefined);
  if (names.length === 0) return undefined;
  if (names.some((n) => n !== names[0]) || !isRepository(names[0])) return null;
  return names[0];
}

/** The page size an adapter serves: at least one, whole. */
export function pageLimit(limit: number): number {
  return Math.max(1, Math.floor(limit) || 1);
}

/** The first index strictly after `key` in `sorted` (ordered by `order`, then repository and digest). */
export function upperBound(sorted: readonly Orderable[], key: ImageKey, order: readonly OrderTerm[]): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareImages(sorted[mid], key, order) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Up to `limit` entries of `sorted` strictly after `after`; done when none is left behind them. */
export function sliceAfter<T extends Orderable>(sorted: readonly T[], after: ImageKey | undefined, order: readonly OrderTerm[], limit: number): { page: T[]; done: boolean } {
  const start = after === undefined ? 0 : upperBound(sorted, after, order);
  const page = sorted.slice(start, start + limit);
  return { page, done: start + page.length >= sorted.length };
}

/** An unsorted snapshot's entries strictly after `after`, sorted, cut to `limit`. */
export function sortAndSlice<T extends Orderable>(all: readonly T[], after: ImageKey | undefined, order: readonly OrderTerm[], limit: number): { images: T[]; done: boolean } {
  const rest = all.filter((image) => after === undefined || compareImages(image, after, order) > 0).sort((a, b) => compareImages(a, b, order));
  return { images: rest.slice(0, limit), done: rest.length <= limit };
}

/** Up to `limit` names of `sorted` (code-unit order, distinct) strictly after `after`; done when none is left behind them. */
export function namesAfter(sorted: readonly string[], after: string | undefined, limit: number): { names: string[]; done: boolean } {
  let lo = 0;
  let hi = sorted.length;
  while (after !== undefined && lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= after) lo = mid + 1;
    else hi = mid;
  }
  const names = sorted.slice(lo, lo + limit);
  return { names, done: lo + names.length >= sorted.length };
}

/** A provider's date: RFC 3339 text, or unix seconds (or milliseconds) as a number or digits. */
export function parseTime(value: unknown): Date | undefined {
  let d: Date | undefined;
  if (typeof value === "number" && Number.isFinite(value) && value > 0) d = new Date(value < 1e12 ? value * 1000 : value);
  else if (typeof value === "string" && value !== "") d = /^\d+$/.test(value) ? new Date(Number(value) * 1000) : new Date(value);
  return d !== undefined && !Number.isNaN(d.getTime()) ? d : undefined;
}

/** The record of a registry that is a config entry: named by its id, always active, no labels. */
export function configuredRegistry(entry: { id: string; kind: string; endpoint: string; hostname: string; location?: string; capabilities: ReadonlySet<Capability> }): RegistryRecord {
  return {
    id: entry.id,
    name: entry.id,
    provider: entry.kind,
    endpoint: entry.endpoint,
    location: entry.location ?? "",
    hostname: entry.hostname,
    status: "active",
    labels: {},
    capabilities: [...entry.capabilities],
  };
}

/** The client's error for a call its signal stopped: CANCELLED or DEADLINE_EXCEEDED. */
export type AbortedError = (signal: AbortSignal, doing: string) => Error;

/** Runs `work` unless the signal has aborted; an abort on the way is `aborted`'s error, not whatever the work threw. */
export async function unlessAborted<T>(signal: AbortSignal, aborted: AbortedError, doing: string, work: () => Promise<T>): Promise<T> {
  if (signal.aborted) throw aborted(signal, doing);
  try {
    return await work();
  } catch (e) {
    if (signal.aborted) throw aborted(signal, doing);
    throw e;
  }
}

/** Where a provider without a repository endpoint finds its repositories: the names of a listing it reads anyway. */
export interface RepositoryNameSource {
  registryId: string;
  /** Whether `name` can name one of the provider's repositories; any other is not looked for. */
  isRepository(name: string): boolean;
  /** The listing's distinct names in code-unit order, only `repository` when given; `fresh` refuses a kept listing. */
  namesIn(repository: string | undefined, fresh: boolean, signal: AbortSignal): Promise<string[]>;
  aborted: AbortedError;
}

/**
 * The list and get of repositories from a name listing: a walk's first page reads a new listing and its
 * later pages reuse the kept one, as the image listing does; a get reads a fresh one.
 */
export class RepositoriesFromNames {
  constructor(protected readonly source: RepositoryNameSource) {}

  async listRepositories(query: ListRepositoriesQuery): Promise<{ repositories: RepositoryRecord[]; done: boolean }> {
    const names = await unlessAborted(query.signal, this.source.aborted, "listing repositories", async () => {
      if (query.nameEquals !== undefined && !this.source.isRepository(query.nameEquals)) return [];
      return this.source.namesIn(query.nameEquals, query.after === undefined, query.signal);
    });
    const { names: page, done } = namesAfter(names, query.after, pageLimit(query.limit));
    return { repositories: page.map((name) => this.record(name)), done };
  }

  async getRepository(name: string, signal: AbortSignal): Promise<RepositoryRecord | undefined> {
    return unlessAborted(signal, this.source.aborted, "getting a repository", async () => {
      if (!this.source.isRepository(name)) return undefined;
      const names = await this.source.namesIn(name, true, signal);
      return names.includes(name) ? this.record(name) : undefined;
    });
  }

  private record(name: string): RepositoryRecord {
    return { registryId: this.source.registryId, name };
  }
}

/**
 * The repository listing of a provider that can get a repository by name: refused once aborted; narrowed
 * to a name, the repository getRepository finds there if it sorts after the cursor; otherwise walk's page.
 */
export abstract class RepositoriesByName {
  abstract getRepository(name: string, signal: AbortSignal): Promise<RepositoryRecord | undefined>;
  /** Up to `limit` repositories after `after`, in code-unit order. */
  protected abstract walk(after: string | undefined, limit: number, signal: AbortSignal): Promise<{ repositories: RepositoryRecord[]; done: boolean }>;
  /** The client's CANCELLED or DEADLINE_EXCEEDED for a call the signal stopped. */
  protected abstract aborted(signal: AbortSignal, doing: string): Error;

  async listRepositories(query: ListRepositoriesQuery): Promise<{ repositories: RepositoryRecord[]; done: boolean }> {
    const { after, nameEquals, signal } = query;
    if (signal.aborted) throw this.aborted(signal, "listing repositories");
    if (nameEquals === undefined) return this.walk(after, pageLimit(query.limit), signal);
    const one = after === undefined || nameEquals > after ? await this.getRepository(nameEquals, signal) : undefined;
    return { repositories: one ? [one] : [], done: true };
  }
}

/** What a registry a provider account holds can have done to it through the account. */
const ACCOUNT_REGISTRY_CAPABILITIES: readonly Capability[] = ["update_registries", "delete_registries"];

/** The record of a registry a provider account holds: the provider's fields, the capabilities such a registry has, createdAt when known. */
export function accountRegistry(fields: Omit<RegistryRecord, "capabilities" | "createdAt"> & { createdAt: Date | undefined }): RegistryRecord {
  const { createdAt, ...rest } = fields;
  const record: RegistryRecord = { ...rest, capabilities: [...ACCOUNT_REGISTRY_CAPABILITIES] };
  if (createdAt) record.createdAt = createdAt;
  return record;
}
