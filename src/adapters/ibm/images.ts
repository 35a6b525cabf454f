// IBM images: one digest in one repository, with the tags IBM lists for it there (untagged digests
// included). IbmImages lists, gets and deletes them, and keeps the listings and manifests it read.
//
// IBM's lists are not paged, so a walk fetches one listing (POST /api/v1/images/digests, narrowed to
// one repository when the scope names one) and pages through it with keyset cursors: the native order
// is (repository, digest) and the cursor is `repository@digest`; an order uses compareImages and the
// walker's `after` key. The listing is kept for listingCacheTtlMs (default 30 s) so a walk's later
// pages read the same listing; a walk's first page always fetches a new one. Sorted views of a
// listing are built once per order, so a page costs a binary search plus its manifests, not a sort.
//
// Images carry config and layers: each listed image's manifest is fetched once (by digest, cached,
// manifests are immutable) unless listManifests is false.
import { LRUCache } from "lru-cache";
import { Code, RegplaneError, invalidField } from "../../core/errors.js";
import { compareImages, compareStrings, decodeImageCursor, encodeImageCursor } from "../../core/order.js";
import type { ImagePage, ListImagesQuery } from "../../core/provider.js";
import type { ImageRecord, OrderTerm } from "../../core/types.js";
import { DEFAULT_LISTING_CACHE_TTL_MS, narrowedRepository, pageLimit, sliceAfter } from "../../core/listing.js";
import { raceSignal } from "../../core/resilience.js";
import { header } from "../../core/http/index.js";
import { SharedReads } from "../../core/shared-reads.js";
import type { IbmClient } from "./client.js";
import type { IbmProviderOptions } from "./config.js";
import { MANIFEST_ACCEPT, isDigest, mediaTypeOfManifestType, parseIbmManifest, type ManifestContent } from "./manifest.js";

/** One digest in one repository, as the digest listing gives it. Its key fields make it an ImageKey. */
interface ListedImage {
  repository: string;
  digest: string;
  /** ms since the epoch. */
  createdAt?: number;
  tags: string[];
  size: number;
  mediaType: string;
}

interface Listing {
  entries: ListedImage[];
  /** Sorted copies by order key, built on first use. */
  views: Map<string, ListedImage[]>;
  /** The distinct repositories of the entries, sorted; built on first use. */
  repositories?: string[];
}

export const IBM_REPOSITORY = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)+$/;
/** Scopes (repositories, and the whole account) whose listing is kept; a walk of a forgotten one fetches it again. */
const LISTING_CACHE_ENTRIES = 1_000;
const MANIFEST_CACHE_ENTRIES = 10_000;
const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

export class IbmImages {
  private readonly listManifests: boolean;
  private readonly warn: (msg: string, ctx?: object) => void;
  /** By scope ("" for the whole account), each serving listingCacheTtlMs from when it began. */
  private readonly listings: SharedReads<Listing>;
  private readonly manifests = new LRUCache<string, ManifestContent>({ max: MANIFEST_CACHE_ENTRIES });
  private warnedUnverified = false;

  constructor(
    private readonly client: IbmClient,
    private readonly id: string,
    options: Pick<IbmProviderOptions, "listingCacheTtlMs" | "listManifests" | "warn">,
  ) {
    this.listings = new SharedReads(LISTING_CACHE_ENTRIES, options.listingCacheTtlMs ?? DEFAULT_LISTING_CACHE_TTL_MS);
    this.listManifests = options.listManifests ?? true;
    this.warn = options.warn ?? (() => {});
  }

  /** How many listings and manifests are kept now. */
  cacheSizes(): { listings: number; manifests: number } {
    return { listings: this.listings.size, manifests: this.manifests.size };
  }

  /** Drops every kept listing (a namespace was deleted with its images). */
  forgetListings(): void {
    this.listings.clear();
  }

  async listImages(query: ListImagesQuery): Promise<ImagePage> {
    const only = narrowedRepository(query, (r) => IBM_REPOSITORY.test(r));
    if (only === null) return { images: [], done: true };
    const native = query.order.length === 0;
    const after = native ? (query.nativeCursor === undefined ? undefined : decodeImageCursor(query.nativeCursor, this.id, (r) => IBM_REPOSITORY.test(r))) : query.after;
    const listing = await this.listing(only, after === undefined, query.signal);
    const sorted = viewOf(listing, query.order);
    const { page, done } = sliceAfter(sorted, after, query.order, pageLimit(query.limit));
    const images = await Promise.all(page.map((entry) => this.record(entry, query.signal)));
    const last = page.at(-1);
    if (done || last === undefined) return { images, done: true };
    return { images, done: false, nativeCursor: native ? encodeImageCursor(last.repository, last.digest) : undefined };
  }

  async getImage(repository: string, digest: string, signal: AbortSignal): Promise<ImageRecord | undefined> {
    if (!IBM_REPOSITORY.test(repository) || !isDigest(digest)) return undefined;
    const listing = await this.listing(repository, true, signal);
    const entry = listing.entries.find((e) => e.repository === repository && e.digest === digest);
    if (entry === undefined) return undefined;
    const manifest = await this.manifest(entry.repository, entry.digest, signal);
    if (manifest === undefined) return undefined;
    return toRecord(this.id, entry, manifest);
  }

  /**
   * POST /api/v1/images/bulkdelete with the one reference `<host>/<repository>@<digest>`: IBM removes
   * the digest and every tag on it from that repository (it goes to IBM's trash). A digest IBM reports
   * as not found, or a repository that is gone, counts as deleted.
   */
  async deleteImage(repository: string, digest: string, signal: AbortSignal): Promise<void> {
    if (!IBM_REPOSITORY.test(repository)) throw invalidField("repository", `${JSON.stringify(repository)} is not an IBM repository (<namespace>/<name>)`);
    if (!isDigest(digest)) throw invalidField("digest", `${JSON.stringify(digest)} is not a sha256 digest`);
    const reference = `${this.client.host}/${repository}@${digest}`;
    try {
      const reply = await this.client.call({ method: "POST", path: "/api/v1/images/bulkdelete", json: [reference] }, signal);
      if (reply.status === 404) return;
      if (reply.status < 200 || reply.status >= 300) throw this.client.failure(reply, `deleting ${repository}@${digest}`);
      const result = this.client.parse<{ success?: unknown; error?: unknown }>(reply, "deleting an image");
      const errors = result.error !== null && typeof result.error === "object" ? (result.error as Record<string, { code?: unknown; message?: unknown }>) : {};
      const failed = errors[reference] ?? errors[digest] ?? Object.entries(errors).find(([k]) => k.endsWith(digest))?.[1];
      if (failed === undefined) return;
      const code = typeof failed.code === "string" ? failed.code : undefined;
      const message = typeof failed.message === "string" ? failed.message : "";
      if (/not\s*found|does not exist|no such/i.test(message)) return;
      throw new RegplaneError(
        Code.FAILED_PRECONDITION,
        this.client.redact(`registry ${JSON.stringify(this.id)} (ibm): IBM refused to delete ${repository}@${digest}${code ? ` (${code})` : ""}: ${message}`),
        { errorInfo: { reason: "PROVIDER_DELETE_REFUSED", metadata: { registry_id: this.id, provider: this.client.provider, ...(code ? { provider_code: code } : {}) } } },
      );
    } finally {
      this.listings.clear();
    }
  }

  /**
   * The repositories holding images, sorted: the whole account's (`repository` undefined) or the one
   * named, read from the same listing (and cache) listImages pages through.
   */
  async repositoriesIn(repository: string | undefined, fresh: boolean, signal: AbortSignal): Promise<string[]> {
    const listing = await this.listing(repository, fresh, signal);
    listing.repositories ??= [...new Set(listing.entries.map((e) => e.repository))].sort(compareStrings);
    return listing.repositories;
  }

  /** The digests IBM lists in one repository now (a fresh listing). */
  async digestsIn(repository: string, signal: AbortSignal): Promise<string[]> {
    const listing = await this.listing(repository, true, signal);
    return [...new Set(listing.entries.map((e) => e.digest))];
  }

  /** The listing of one repository or of the whole account; `fresh` refuses a settled cached one. */
  private listing(repository: string | undefined, fresh: boolean, signal: AbortSignal): Promise<Listing> {
    // Checked first: an aborted caller neither joins nor starts a read.
    if (signal.aborted) return Promise.reject(signal.reason);
    // The fetch is not tied to one caller: a walker that gives up on a slow listing finds it ready next time.
    const read = this.listings.get(repository ?? "", fresh, () => this.fetchListing(repository, AbortSignal.timeout(120_000)));
    return raceSignal(read.promise, signal);
  }

  private async fetchListing(repository: string | undefined, signal: AbortSignal): Promise<Listing> {
    const body: Record<string, unknown> = { exclude_tagged: false, exclude_va: true, include_ibm: false };
    if (repository !== undefined) body.repositories = [`${this.client.host}/${repository}`];
    const digests = await this.client.json<unknown>({ method: "POST", path: "/api/v1/images/digests", json: body, doing: "listing image digests", repeatable: true }, signal);
    if (!Array.isArray(digests)) throw this.client.badResponse("the digest listing is not a JSON array");
    const seen = new Set<string>();
    const entries: ListedImage[] = [];
    for (const item of digests as Array<Record<string, unknown>>) {
      const digest = typeof item?.id === "string" ? item.id : "";
      if (!isDigest(digest)) continue;
      const repoTags = item.repoTags !== null && typeof item.repoTags === "object" ? (item.repoTags as Record<string, unknown>) : {};
      for (const [name, value] of Object.entries(repoTags)) {
        const repo = stripRegistryHost(name);
        if (!IBM_REPOSITORY.test(repo) || (repository !== undefined && repo !== repository)) continue;
        const key = `${repo}@${digest}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const entry: ListedImage = {
          repository: repo,
          digest,
          tags: tagsOf(value),
          size: typeof item.size === "number" && Number.isSafeInteger(item.size) && item.size >= 0 ? item.size : 0,
          mediaType: mediaTypeOfManifestType(item.manifestType),
        };
        const created = typeof item.created === "number" && Number.isFinite(item.created) && item.created > 0 ? Math.round(item.created * 1000) : undefined;
        if (created !== undefined) entry.createdAt = created;
        entries.push(entry);
      }
    }
    return { entries, views: new Map() };
  }

  private async record(entry: ListedImage, signal: AbortSignal): Promise<ImageRecord> {
    const manifest = this.listManifests ? await this.manifest(entry.repository, entry.digest, signal) : undefined;
    return toRecord(this.id, entry, manifest);
  }

  /** The manifest of a digest (cached by digest); undefined when IBM no longer has it. */
  private async manifest(repository: string, digest: string, signal: AbortSignal): Promise<ManifestContent | undefined> {
    const cached = this.manifests.get(digest);
    if (cached !== undefined) return cached;
    const reference = encodeURIComponent(`${this.client.host}/${repository}@${digest}`);
    const reply = await this.client.call({ method: "GET", path: `/api/v1/images/${reference}/manifest`, headers: { accept: MANIFEST_ACCEPT }, maxBytes: MANIFEST_MAX_BYTES }, signal);
    if (reply.status === 404) return undefined;
    if (reply.status !== 200) throw this.client.failure(reply, `fetching the manifest of ${repository}@${digest}`);
    let content: ManifestContent;
    try {
      content = parseIbmManifest(reply.body, header(reply.headers, "content-type"), digest);
    } catch (e) {
      throw this.client.badResponse(`the manifest of ${repository}@${digest} is malformed: ${(e as Error).message}`);
    }
    if (!content.digestVerified && !this.warnedUnverified) {
      this.warnedUnverified = true;
      this.warn("ibm: manifest bytes do not hash to their digest (re-serialised by the API); using their content", { registry: this.id, repository, digest });
    }
    this.manifests.set(digest, content);
    return content;
  }
}

function toRecord(registryId: string, entry: ListedImage, manifest: ManifestContent | undefined): ImageRecord {
  const record: ImageRecord = {
    registryId,
    repository: entry.repository,
    digest: entry.digest,
    mediaType: manifest?.mediaType ?? entry.mediaType,
    tags: [...entry.tags],
    layers: manifest?.layers ?? [],
    manifests: manifest?.manifests ?? [],
    compressedSize: manifest?.size ?? entry.size,
  };
  if (manifest?.config !== undefined) record.config = manifest.config;
  if (entry.createdAt !== undefined) record.createdAtMs = entry.createdAt;
  return record;
}

/**
 * The repository of a `repoTags` key. IBM's own SDK tests read the key as `<registry host>/<namespace>/<repo>`;
 * a key without the host is taken as is. A first segment with a "." or ":" (or "localhost") is a host,
 * which an IBM namespace name can never be.
 */
export function stripRegistryHost(name: string): string {
  const slash = name.indexOf("/");
  if (slash < 0) return name;
  const first = name.slice(0, slash);
  return first.includes(".") || first.includes(":") || first === "localhost" ? name.slice(slash + 1) : name;
}

/**
 * Tags of one repoTags value: IBM types the map's values loosely, so an array of tags (plain, or full
 * references ending in `:tag`) and an object keyed by tag are both read; anything else has no tags.
 */
export function tagsOf(value: unknown): string[] {
  let raw: unknown[] = [];
  if (Array.isArray(value)) raw = value;
  else if (value !== null && typeof value === "object") raw = Object.keys(value);
  const tags = new Set<string>();
  for (const t of raw) {
    if (typeof t !== "string" || t === "") continue;
    const slash = t.lastIndexOf("/");
    const colon = t.lastIndexOf(":");
    tags.add(slash >= 0 && colon > slash ? t.slice(colon + 1) : t);
  }
  return [...tags].sort(compareStrings);
}

function viewOf(listing: Listing, order: readonly OrderTerm[]): ListedImage[] {
  const key = order.map((t) => `${t.field}${t.desc ? "-" : "+"}`).join(",");
  let view = listing.views.get(key);
  if (view === undefined) {
    view = [...listing.entries].sort((a, b) => compareImages(a, b, order));
    listing.views.set(key, view);
  }
  return view;
}
