// OCI / Docker manifest media types, digests and the parts of a manifest an ImageRecord is built from:
// shared by adapters that read manifests (the OCI Distribution API, IBM's manifest endpoint, local layouts).
import { createHash } from "node:crypto";
import type { BlobRecord } from "./types.js";

export const MediaType = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
} as const;

/**
 * Always sent: without it distribution answers 404 for an OCI manifest and converts a Docker manifest
 * to schema 1, which has a different digest.
 */
export const MANIFEST_ACCEPT = [
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
].join(", ");

const INDEX_TYPES = new Set<string | undefined>([MediaType.ociIndex, MediaType.dockerManifestList]);
const IMAGE_MANIFEST_TYPES = new Set<string | undefined>([MediaType.ociManifest, MediaType.dockerManifest]);
const IMAGE_CONFIG_TYPES = new Set<string>([MediaType.ociConfig, MediaType.dockerConfig]);

const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
/** The Distribution spec's repository name grammar (path components joined by "/"). */
const REPOSITORY = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function isDigest(value: string): boolean {
  return DIGEST.test(value);
}

export function isRepositoryName(value: string): boolean {
  return value.length <= 255 && REPOSITORY.test(value);
}

export function isTag(value: string): boolean {
  return TAG.test(value);
}

/** The digest of bytes with the algorithm named by `like` (sha256 unless it names sha512). */
export function digestOf(bytes: Uint8Array, like = "sha256:"): string {
  const algorithm = like.startsWith("sha512:") ? "sha512" : "sha256";
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}

export function isIndexMediaType(mediaType: string | undefined): boolean {
  return INDEX_TYPES.has(mediaType);
}

/** A single-image manifest (OCI or Docker schema 2). */
export function isImageManifestMediaType(mediaType: string | undefined): boolean {
  return IMAGE_MANIFEST_TYPES.has(mediaType);
}

export function isImageConfigMediaType(mediaType: string): boolean {
  return IMAGE_CONFIG_TYPES.has(mediaType);
}

/** What an ImageRecord needs from one manifest. */
export interface ParsedManifest {
  mediaType: string;
  config?: BlobRecord;
  layers: BlobRecord[];
  /** Children of an index / manifest list. */
  manifests: BlobRecord[];
}

/**
 * Parses manifest bytes. The media type comes from the body's `mediaType` when present (OCI makes it
 * optional), else from the response's Content-Type, else from the shape (an index has `manifests`).
 */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined): ParsedManifest {
  const doc = JSON.parse(Buffer.from(bytes).toString("utf8")) as Record<string, unknown>;
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new Error("manifest is not a JSON object");
  const headerType = contentType?.split(";")[0].trim();
  const declared = typeof doc.mediaType === "string" ? doc.mediaType : undefined;
  let mediaType = declared ?? (headerType && headerType !== "application/json" ? headerType : undefined);
  if (mediaType === undefined) mediaType = Array.isArray(doc.manifests) ? MediaType.ociIndex : MediaType.ociManifest;
  // An index has no config of its own, so whatever stands in that field is not read.
  const config = isIndexMediaType(mediaType) || doc.config === undefined ? undefined : descriptor(doc.config, "config");
  return {
    mediaType,
    config,
    layers: Array.isArray(doc.layers) ? doc.layers.map((d, i) => descriptor(d, `layers[${i}]`)) : [],
    manifests: Array.isArray(doc.manifests) ? doc.manifests.map((d, i) => descriptor(d, `manifests[${i}]`)) : [],
  };
}

function descriptor(value: unknown, where: string): BlobRecord {
  if (value === null || typeof value !== "object") throw new Error(`manifest ${where} is not a descriptor`);
  const d = value as Record<string, unknown>;
  if (typeof d.digest !== "string" || typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new Error(`manifest ${where} lacks a digest or a valid size`);
  }
  const blob: BlobRecord = { digest: d.digest, size: d.size, mediaType: typeof d.mediaType === "string" ? d.mediaType : "" };
  if (Array.isArray(d.urls) && d.urls.every((u) => typeof u === "string") && d.urls.length > 0) blob.urls = d.urls as string[];
  return blob;
}

/** Bytes of config + layers of a single-image manifest. */
export function imageSize(m: ParsedManifest): number {
  return (m.config?.size ?? 0) + m.layers.reduce((sum, l) => sum + l.size, 0);
}

/** The `created` time of an image config, if it is a valid date. */
export function parseConfigCreated(bytes: Uint8Array): Date | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return undefined;
  }
  const created = (doc as { created?: unknown } | null)?.created;
  if (typeof created !== "string") return undefined;
  const d = new Date(created);
  return Number.isNaN(d.getTime()) ? undefined : d;
}
