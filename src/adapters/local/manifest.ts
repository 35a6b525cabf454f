// The manifests of a layout, read from files anyone may have written: classified rather than refused
// (an unknown or broken manifest is "other" or a CorruptBlobError, never a crash), with descriptor
// strings interned and arrays frozen, as every snapshot of every layout shares them. The strict parser
// for registry responses is core/manifest.ts; the media-type table is core's.
import { isIndexMediaType, isImageManifestMediaType } from "../../core/manifest.js";
import type { BlobRecord } from "../../core/types.js";
import { isValidDigest } from "./paths.js";

export type ParsedManifest =
  | { kind: "image"; mediaType?: string; config?: BlobRecord; layers: BlobRecord[]; otherBlobs: string[] }
  | { kind: "index"; mediaType?: string; manifests: BlobRecord[] }
  | { kind: "other"; mediaType?: string };

/** A blob that exists but cannot be what it claims: wrong digest, not JSON, too large. */
export class CorruptBlobError extends Error {
  constructor(readonly digest: string, reason: string) {
    super(`blob ${digest}: ${reason}`);
  }
}

export const NO_BLOBS: BlobRecord[] = Object.freeze([]) as unknown as BlobRecord[];

/** Media types repeat across every descriptor; one string each instead of one per descriptor. */
const mediaTypes = new Map<string, string>();
const MAX_INTERNED_MEDIA_TYPES = 1024;

export function internMediaType(mediaType: string): string {
  const known = mediaTypes.get(mediaType);
  if (known !== undefined) return known;
  if (mediaTypes.size < MAX_INTERNED_MEDIA_TYPES) mediaTypes.set(mediaType, mediaType);
  return mediaType;
}

export function parseManifest(digest: string, bytes: Buffer): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new CorruptBlobError(digest, "not JSON");
  }
  if (!isObject(json)) throw new CorruptBlobError(digest, "not a JSON object");
  const mediaType = typeof json.mediaType === "string" ? internMediaType(json.mediaType) : undefined;
  const looksLikeIndex = Array.isArray(json.manifests);
  const looksLikeImage = isObject(json.config) || Array.isArray(json.layers) || Array.isArray(json.fsLayers);
  if (isIndexMediaType(mediaType) || (!isImageManifestMediaType(mediaType) && looksLikeIndex && !looksLikeImage)) {
    return { kind: "index", mediaType, manifests: descriptors(json.manifests) };
  }
  if (isImageManifestMediaType(mediaType) || looksLikeImage) {
    const [config] = descriptors([json.config]);
    // Docker schema 1 (fsLayers) and the short-lived OCI artifact manifest (blobs) reference blobs too.
    const otherBlobs = [
      ...descriptors(json.blobs).map((d) => d.digest),
      ...(Array.isArray(json.fsLayers) ? json.fsLayers : [])
        .map((l: unknown) => (isObject(l) ? l.blobSum : undefined))
        .filter(isValidDigest),
    ];
    return { kind: "image", mediaType, config, layers: descriptors(json.layers), otherBlobs };
  }
  return { kind: "other", mediaType };
}

/** Descriptors with a valid digest; a size that is not a non-negative integer counts as 0. */
function descriptors(list: unknown): BlobRecord[] {
  if (!Array.isArray(list)) return [];
  const out: BlobRecord[] = [];
  for (const d of list) {
    if (!isObject(d) || !isValidDigest(d.digest)) continue;
    const size = typeof d.size === "number" && Number.isSafeInteger(d.size) && d.size >= 0 ? d.size : 0;
    const blob: BlobRecord = { digest: d.digest, size, mediaType: internMediaType(typeof d.mediaType === "string" ? d.mediaType : "") };
    if (Array.isArray(d.urls) && d.urls.every((u) => typeof u === "string")) blob.urls = Object.freeze(d.urls.slice()) as string[];
    out.push(Object.freeze(blob));
  }
  // An array grown by push keeps spare capacity (17 slots for one layer); a copy holds just its items.
  return out.length === 0 ? NO_BLOBS : (Object.freeze(out.slice()) as BlobRecord[]);
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

