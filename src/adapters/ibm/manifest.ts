// What an ImageRecord needs from a manifest IBM returns raw (GET /api/v1/images/{ref}/manifest), and
// the media type behind IBM's human-readable `manifestType` strings. Parsing is core/manifest.ts's.
import { MANIFEST_ACCEPT as OCI_MANIFEST_ACCEPT, MediaType, digestOf, imageSize, isIndexMediaType, parseManifest, type ParsedManifest } from "../../core/manifest.js";

/** Sent with manifest requests so IBM may answer with the stored media type instead of converting. */
export const MANIFEST_ACCEPT = `${OCI_MANIFEST_ACCEPT}, application/json`;

/** IBM stores sha256 digests only. */
const DIGEST = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: string): boolean {
  return DIGEST.test(value);
}

export interface ManifestContent extends ParsedManifest {
  /** Config plus layers of a single image; undefined for an index (IBM's listing size is used then). */
  size?: number;
  /** False when the bytes IBM returned do not hash to the digest asked for (re-serialised by the API). */
  digestVerified: boolean;
}

/** Throws on a body that is not a manifest. */
export function parseIbmManifest(bytes: Buffer, contentType: string | undefined, digest: string): ManifestContent {
  const parsed = parseManifest(bytes, contentType);
  return {
    ...parsed,
    size: isIndexMediaType(parsed.mediaType) ? undefined : imageSize(parsed),
    digestVerified: digestOf(bytes, digest) === digest,
  };
}

/**
 * IBM's `manifestType` ("Docker Image Manifest V2, Schema 2", "OCI Image Manifest v1", …) as a media
 * type; "" when the wording is not one we recognise.
 */
export function mediaTypeOfManifestType(manifestType: unknown): string {
  if (typeof manifestType !== "string") return "";
  const t = manifestType.toLowerCase();
  if (t.includes("oci")) return t.includes("index") ? MediaType.ociIndex : MediaType.ociManifest;
  if (t.includes("list")) return MediaType.dockerManifestList;
  if (t.includes("docker")) return MediaType.dockerManifest;
  return "";
}
