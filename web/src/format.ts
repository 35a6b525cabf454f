// How values read in the console: sizes in binary units, times in the reader's locale, short digests.
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function formatBytes(value: bigint | number): string {
  let size = Number(value);
  let unit = 0;
  while (size >= 1024 && unit < UNITS.length - 1) {
    size /= 1024;
    unit++;
  }
  if (unit === 0) return `${size} B`;
  return `${size < 10 ? size.toFixed(1) : Math.round(size)} ${UNITS[unit]}`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function toDate(timestamp: Timestamp | undefined): Date | undefined {
  return timestamp === undefined ? undefined : timestampDate(timestamp);
}

export function formatDate(date: Date): string {
  return dateTime.format(date);
}

/** "sha256:0123456789ab" — enough to tell images apart at a glance; the full digest stays in a title. */
export function shortDigest(digest: string): string {
  const [algorithm, hex] = digest.split(":", 2);
  return hex === undefined ? digest : `${algorithm}:${hex.slice(0, 12)}`;
}

/** Shortens every full digest inside a sentence, such as an operation's description. */
export function shortenDigests(text: string): string {
  return text.replace(/\b(sha256|sha512):[0-9a-f]{32,}\b/g, (digest) => shortDigest(digest));
}

const MEDIA_TYPES: Record<string, string> = {
  "application/vnd.oci.image.manifest.v1+json": "OCI manifest",
  "application/vnd.oci.image.index.v1+json": "OCI index (multi-platform)",
  "application/vnd.docker.distribution.manifest.v2+json": "Docker manifest v2",
  "application/vnd.docker.distribution.manifest.list.v2+json": "Docker manifest list (multi-platform)",
  "application/vnd.oci.image.layer.v1.tar+gzip": "tar + gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd": "tar + zstd",
  "application/vnd.oci.image.layer.v1.tar": "tar",
  "application/vnd.docker.image.rootfs.diff.tar.gzip": "tar + gzip",
  "application/vnd.oci.image.config.v1+json": "OCI config",
  "application/vnd.docker.container.image.v1+json": "Docker config",
};

export function describeMediaType(mediaType: string): string {
  return MEDIA_TYPES[mediaType] ?? (mediaType || "unknown");
}
