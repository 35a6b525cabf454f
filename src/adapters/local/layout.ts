// Reading OCI image layouts: index.json into image records, manifests and configs by digest.
// Blobs are content-addressed, so what is parsed from one is cached by digest for every layout.
// How one manifest is read is manifest.ts.
import { createHash } from "node:crypto";
import * as path from "node:path";

import { Code, RegplaneError } from "../../core/errors.js";
import type { ImageRecord } from "../../core/types.js";
import { WeightedLru } from "../../core/lru.js";
import { CorruptBlobError, internMediaType, isObject, NO_BLOBS, parseManifest, type ParsedManifest } from "./manifest.js";
import { INDEX_FILE, isMissing, isSettled, isValidDigest, nowNs, REF_NAME_ANNOTATION } from "./paths.js";
import { type SafeFs, UnsafeFileError } from "./safe-fs.js";

/** Registries refuse manifests above 4 MiB; the default bound for index.json and manifests alike. */
export const DEFAULT_MAX_METADATA_BYTES = 4 * 1024 * 1024;
const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
/** Nested indexes deeper than this are not followed when summing sizes. */
export const DEFAULT_MAX_INDEX_DEPTH = 8;
/** Parallel file reads while parsing one layout; enough to keep the thread pool busy. */
const READ_CONCURRENCY = 32;

export interface IndexEntry {
  digest: string;
  mediaType: string;
  tag?: string;
}

/** Which index.json a snapshot was parsed from. */
export interface IndexSource {
  version: string;
  /** Hash of the bytes, to recognise an unchanged file whose times cannot prove it unchanged. */
  contentHash: string;
  /** Whether the version alone identifies these bytes (see isSettled). */
  settled: boolean;
}

/** One version of a layout's index.json, parsed into images sorted by digest. */
export interface LayoutSnapshot {
  repository: string;
  dir: string;
  source: IndexSource;
  /** Sorted by digest; records are shared with later snapshots of the layout and never changed. */
  images: ImageRecord[];
  /** The images sorted by an order key; computed once per index.json version and order. */
  sorted: Map<string, ImageRecord[]>;
}

/** The identity of one index.json file version: a rename gives a new inode, an in-place write new times. */
export function indexVersion(st: { ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }): string {
  return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** The version of a layout's index.json (of the name itself, never a link's target); "absent" when there is none. */
export async function statIndex(disk: SafeFs, dir: string): Promise<string> {
  try {
    return indexVersion(await disk.lstatBig(path.join(dir, INDEX_FILE)));
  } catch (err) {
    if (isMissing(err)) return "absent";
    throw err;
  }
}

/**
 * index.json's bytes and the version they belong to, read from one open file. Throws UnsafeFileError
 * when it is a link, not a regular file or over `maxBytes`.
 */
export async function readIndexFile(disk: SafeFs, dir: string, maxBytes: number): Promise<{ source: IndexSource; text?: string }> {
  const readAt = nowNs();
  const file = await disk.readRegular(path.join(dir, INDEX_FILE), maxBytes);
  if (file === undefined) return { source: { version: "absent", contentHash: "", settled: false } };
  const text = file.bytes.toString("utf8");
  const contentHash = createHash("sha256").update(file.bytes).digest("base64");
  return { source: { version: indexVersion(file.stat), contentHash, settled: isSettled(file.stat, readAt) }, text };
}

/** Parses index.json text; throws DATA_LOSS when it is not an OCI image index. */
export function parseIndexJson(text: string, where: string): Record<string, unknown> & { manifests: unknown[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new RegplaneError(Code.DATA_LOSS, `${where}: index.json is not valid JSON`, { cause: err });
  }
  if (!isObject(parsed)) throw new RegplaneError(Code.DATA_LOSS, `${where}: index.json is not an object`);
  const manifests = parsed.manifests ?? [];
  if (!Array.isArray(manifests)) throw new RegplaneError(Code.DATA_LOSS, `${where}: index.json manifests is not a list`);
  return { ...parsed, manifests };
}

/** The usable entries of index.json; entries whose digest is not a valid digest are reported and dropped. */
export function indexEntries(index: { manifests: unknown[] }, onInvalid: (entry: unknown) => void): IndexEntry[] {
  const entries: IndexEntry[] = [];
  for (const m of index.manifests) {
    if (!isObject(m) || !isValidDigest(m.digest)) {
      onInvalid(m);
      continue;
    }
    const annotations = isObject(m.annotations) ? m.annotations : {};
    const tag = annotations[REF_NAME_ANNOTATION];
    entries.push({
      digest: m.digest,
      mediaType: typeof m.mediaType === "string" ? m.mediaType : "",
      tag: typeof tag === "string" && tag !== "" ? tag : undefined,
    });
  }
  return entries;
}

/** Caches of parsed manifests and config creation times, by digest, bounded in (estimated) bytes. */
export class BlobReader {
  private readonly manifests: WeightedLru<string, ParsedManifest>;
  private readonly created: WeightedLru<string, number | null>;

  constructor(
    maxCacheBytes: number,
    readonly disk: SafeFs,
    readonly maxManifestBytes = DEFAULT_MAX_METADATA_BYTES,
  ) {
    this.manifests = new WeightedLru(Math.floor(maxCacheBytes * 0.8));
    this.created = new WeightedLru(Math.floor(maxCacheBytes * 0.2));
  }

  /** The parsed manifest, undefined when its blob is not in the layout; throws CorruptBlobError. */
  async manifest(layoutDir: string, digest: string, mustExist = false): Promise<ParsedManifest | undefined> {
    const cached = this.manifests.get(digest);
    if (cached !== undefined) {
      if (mustExist && !(await blobExists(this.disk, layoutDir, digest))) return undefined;
      return cached;
    }
    const bytes = await readVerifiedBlob(this.disk, layoutDir, digest, this.maxManifestBytes);
    if (bytes === undefined) return undefined;
    const parsed = parseManifest(digest, bytes);
    this.manifests.set(digest, parsed, manifestWeight(parsed));
    return parsed;
  }

  /** The config's `created` time in ms, undefined when absent, invalid or unreadable. */
  async createdAt(layoutDir: string, configDigest: string): Promise<number | undefined> {
    const cached = this.created.get(configDigest);
    if (cached !== undefined) return cached ?? undefined;
    let created: number | null = null;
    try {
      const bytes = await readVerifiedBlob(this.disk, layoutDir, configDigest, MAX_CONFIG_BYTES);
      if (bytes === undefined) return undefined;
      const config: unknown = JSON.parse(bytes.toString("utf8"));
      if (isObject(config) && typeof config.created === "string") {
        const ms = Date.parse(config.created);
        if (Number.isFinite(ms)) created = ms;
      }
    } catch (err) {
      if (!(err instanceof CorruptBlobError || err instanceof SyntaxError)) throw err;
      created = null;
    }
    this.created.set(configDigest, created, configDigest.length + 80);
    return created ?? undefined;
  }

  clear(): void {
    this.manifests.clear();
    this.created.clear();
  }
}

/**
 * Builds the images of one index.json version: one record per distinct digest with its tags merged.
 * A manifest blob that is missing or corrupt still yields a record (from the index.json descriptor)
 * so the image can be seen and deleted; `onWarning` says why it is incomplete.
 */
export async function buildSnapshot(
  registryId: string,
  repository: string,
  dir: string,
  source: IndexSource,
  entries: IndexEntry[],
  blobs: BlobReader,
  onWarning: (msg: string, ctx: object) => void,
  previous: LayoutSnapshot | undefined,
  limits: { maxIndexDepth: number; signal: AbortSignal },
): Promise<LayoutSnapshot> {
  const totals: TotalsContext = { dir, blobs, memo: new Map(), maxDepth: limits.maxIndexDepth, signal: limits.signal };
  const groups = new Map<string, { mediaType: string; tags: Set<string> }>();
  for (const e of entries) {
    let g = groups.get(e.digest);
    if (g === undefined) {
      g = { mediaType: e.mediaType, tags: new Set() };
      groups.set(e.digest, g);
    }
    if (g.mediaType === "" && e.mediaType !== "") g.mediaType = e.mediaType;
    if (e.tag !== undefined) g.tags.add(e.tag);
  }
  const digests = [...groups.keys()].sort();
  const images: ImageRecord[] = new Array(digests.length);
  await forEachLimited(digests, READ_CONCURRENCY, async (digest, i) => {
    limits.signal.throwIfAborted();
    const g = groups.get(digest)!;
    const tags = g.tags.size === 0 ? NO_STRINGS : [...g.tags].sort();
    const mediaType = internMediaType(g.mediaType);
    // A manifest never changes under its digest, so the record of an unchanged image is kept as it was.
    const kept = previous === undefined ? undefined : imageByDigest(previous.images, digest);
    if (kept !== undefined && isComplete(kept) && kept.mediaType === mediaType && sameStrings(kept.tags, tags)) {
      images[i] = kept;
      return;
    }
    const base = imageRecord({ registryId, repository, digest, mediaType, tags });
    try {
      const described = await describeManifest(base, totals);
      if (described === undefined) {
        onWarning("local registry: manifest blob missing, listing the image from index.json only", { repository, digest });
      }
      images[i] = described ?? base;
    } catch (err) {
      // Only a deterministic defect is cached as an incomplete record; I/O errors fail the snapshot.
      if (!(err instanceof CorruptBlobError)) throw err;
      onWarning("local registry: manifest corrupt, listing the image from index.json only", {
        repository,
        digest,
        error: errorMessage(err),
      });
      images[i] = base;
    }
  });
  return { repository, dir, source, images, sorted: new Map() };
}

/** The image with this digest in images sorted by digest. */
export function imageByDigest(images: readonly ImageRecord[], digest: string): ImageRecord | undefined {
  const i = upperBoundByDigest(images, digest) - 1;
  return i >= 0 && images[i].digest === digest ? images[i] : undefined;
}

/** The first index whose digest sorts strictly after `digest`, in images sorted by digest. */
export function upperBoundByDigest(images: readonly ImageRecord[], digest: string): number {
  let lo = 0;
  let hi = images.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (images[mid].digest <= digest) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Shared by every record without tags, layers or child manifests; records leave the adapter as copies. */
const NO_STRINGS: string[] = Object.freeze([]) as unknown as string[];

/**
 * Every cached record is built by this one literal, so they all share one hidden class: records made
 * by spreading grew a shape (and property array) of their own each, several hundred bytes per image.
 * Records are frozen and handed out as they are, shared by every caller.
 */
function imageRecord(
  r: Pick<ImageRecord, "registryId" | "repository" | "digest" | "mediaType" | "tags" | "config" | "createdAtMs"> &
    Partial<Pick<ImageRecord, "layers" | "manifests" | "compressedSize">>,
): ImageRecord {
  return Object.freeze({
    registryId: r.registryId,
    repository: r.repository,
    digest: r.digest,
    mediaType: r.mediaType,
    tags: Object.freeze(r.tags) as string[],
    config: r.config,
    layers: r.layers ?? NO_BLOBS,
    manifests: r.manifests ?? NO_BLOBS,
    compressedSize: r.compressedSize ?? 0,
    createdAtMs: r.createdAtMs,
  });
}

/** Whether the record came from its manifest (not only from the index.json descriptor). */
function isComplete(image: ImageRecord): boolean {
  return image.config !== undefined || image.layers.length > 0 || image.manifests.length > 0;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** What summing an index's children needs; `memo` holds each digest's totals once per snapshot build. */
interface TotalsContext {
  dir: string;
  blobs: BlobReader;
  memo: Map<string, Totals>;
  maxDepth: number;
  signal: AbortSignal;
}

interface Totals {
  size: number;
  createdAt?: number;
}

async function describeManifest(base: ImageRecord, ctx: TotalsContext): Promise<ImageRecord | undefined> {
  const { dir, blobs } = ctx;
  const m = await blobs.manifest(dir, base.digest);
  if (m === undefined) return undefined;
  const fields = { ...base, mediaType: internMediaType(base.mediaType || m.mediaType || "") };
  if (m.kind === "image") {
    const { size, createdAt } = await imageTotals(m, dir, blobs);
    return imageRecord({ ...fields, config: m.config, layers: m.layers, compressedSize: size, createdAtMs: createdAt });
  }
  if (m.kind === "index") {
    const { size, createdAt } = await indexTotals(m, ctx, [base.digest]);
    return imageRecord({ ...fields, manifests: m.manifests, compressedSize: size, createdAtMs: createdAt });
  }
  return imageRecord(fields);
}

async function imageTotals(
  m: Extract<ParsedManifest, { kind: "image" }>,
  dir: string,
  blobs: BlobReader,
): Promise<{ size: number; createdAt?: number }> {
  let size = m.config?.size ?? 0;
  for (const l of m.layers) size += l.size;
  const createdAt = m.config === undefined ? undefined : await blobs.createdAt(dir, m.config.digest);
  return { size, createdAt };
}

/**
 * Sums the children present in the layout (a partial copy of a multi-arch image counts what it has).
 * `path` is the chain of indexes above: a child already on it (a cycle) or past the depth limit counts
 * nothing, and each digest is summed once per snapshot build, so a DAG costs its distinct nodes.
 */
async function indexTotals(m: Extract<ParsedManifest, { kind: "index" }>, ctx: TotalsContext, path: string[]): Promise<Totals> {
  let size = 0;
  let createdAt: number | undefined;
  for (const child of m.manifests) {
    ctx.signal.throwIfAborted();
    let totals = ctx.memo.get(child.digest);
    if (totals === undefined) {
      totals = await childTotals(child.digest, ctx, path);
      if (totals === undefined) continue;
      ctx.memo.set(child.digest, totals);
    }
    size += totals.size;
    if (totals.createdAt !== undefined && (createdAt === undefined || totals.createdAt > createdAt)) {
      createdAt = totals.createdAt;
    }
  }
  return { size, createdAt };
}

async function childTotals(digest: string, ctx: TotalsContext, path: string[]): Promise<Totals | undefined> {
  const { dir, blobs } = ctx;
  let parsed: ParsedManifest | undefined;
  try {
    parsed = await blobs.manifest(dir, digest, true);
  } catch (err) {
    if (err instanceof CorruptBlobError) return undefined;
    throw err;
  }
  if (parsed?.kind === "image") return imageTotals(parsed, dir, blobs);
  if (parsed?.kind === "index" && path.length < ctx.maxDepth && !path.includes(digest)) {
    return indexTotals(parsed, ctx, [...path, digest]);
  }
  return undefined;
}

/**
 * The blob's bytes after checking them against their digest; undefined when the blob is absent.
 * A link, a non-regular file or a file over the bound is a CorruptBlobError: never read, never followed.
 */
async function readVerifiedBlob(disk: SafeFs, layoutDir: string, digest: string, maxBytes: number): Promise<Buffer | undefined> {
  let bytes: Buffer;
  try {
    const file = await disk.blobFile(layoutDir, digest);
    if (file === undefined) return undefined;
    const read = await disk.readRegular(file, maxBytes);
    if (read === undefined) return undefined;
    bytes = read.bytes;
  } catch (err) {
    if (err instanceof UnsafeFileError) throw new CorruptBlobError(digest, err.problem);
    throw err;
  }
  const colon = digest.indexOf(":");
  const algorithm = digest.slice(0, colon);
  if (algorithm === "sha256" || algorithm === "sha512") {
    const actual = createHash(algorithm).update(bytes).digest("hex");
    if (actual !== digest.slice(colon + 1)) throw new CorruptBlobError(digest, "content does not match its digest");
  }
  return bytes;
}

async function blobExists(disk: SafeFs, layoutDir: string, digest: string): Promise<boolean> {
  try {
    const file = await disk.blobFile(layoutDir, digest);
    return file !== undefined && (await disk.lstat(file)).isFile();
  } catch (err) {
    if (isMissing(err) || err instanceof UnsafeFileError) return false;
    throw err;
  }
}

// Weights are measured V8 sizes (heap snapshots of a 100,000-image catalog: about 580 bytes per image
// with one layer): a descriptor is its object plus a 71-character digest string; media types are
// interned and cost nothing each.
const BLOB_BYTES = 130;

function manifestWeight(m: ParsedManifest): number {
  const descriptorCount = m.kind === "image" ? m.layers.length + 1 + m.otherBlobs.length : m.kind === "index" ? m.manifests.length : 0;
  return 120 + descriptorCount * BLOB_BYTES;
}

/** Estimated memory of a snapshot, for the layout cache's bound. */
export function snapshotWeight(s: LayoutSnapshot): number {
  let w = 512;
  for (const img of s.images) {
    // The record, its digest and its arrays; blobs; tags.
    w += 240 + (img.layers.length + img.manifests.length + (img.config ? 1 : 0)) * BLOB_BYTES;
    for (const t of img.tags) w += 40 + t.length;
  }
  // Room for a few sorted orders.
  return w + s.images.length * 16;
}

export async function forEachLimited<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
