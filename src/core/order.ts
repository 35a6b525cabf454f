// The one total order over images that every listing uses: adapters that sort for themselves and the
// cross-registry merger compare with these functions, so a keyset cursor means the same thing everywhere.
import { invalidField } from "./errors.js";
import type { ImageKey } from "./provider.js";
import type { ImageRecord, OrderTerm } from "./types.js";

/** Either a full record or the key a cursor carries; both compare the same way. */
export type Orderable = ImageRecord | ImageKey;

/** The cursor key of an image: repository, digest and (when known) creation time in ms since the epoch. */
export function imageKeyOf(image: ImageRecord): ImageKey {
  const key: ImageKey = { repository: image.repository, digest: image.digest };
  const createdAt = createdAtMs(image);
  if (createdAt !== undefined) key.createdAt = createdAt;
  return key;
}

/**
 * Orders images by the given terms, then by repository ascending, then by digest ascending.
 * - `name` compares the repository path (the registry id prefix is the same for one registry; a
 *   merger across registries compares images whose repositories are already unique per stream and
 *   may add the registry id itself before calling this).
 * - Strings compare by UTF-16 code units (plain `<`), never by locale, so every replica agrees.
 * - `created_at` compares milliseconds; an image without a creation time sorts before every image
 *   that has one in ascending order (and therefore after them in descending order).
 * - The tiebreakers (repository, digest) stay ascending unless an earlier term names that field:
 *   once a field has been compared, comparing it again cannot change the result.
 * Returns a negative number when `a` comes first, positive when `b` does, 0 only for equal keys.
 */
export function compareImages(a: Orderable, b: Orderable, order: readonly OrderTerm[]): number {
  for (const term of order) {
    let c: number;
    switch (term.field) {
      case "name":
        c = compareStrings(a.repository, b.repository);
        break;
      case "digest":
        c = compareStrings(a.digest, b.digest);
        break;
      case "created_at":
        c = compareOptionalNumbers(createdAtMs(a), createdAtMs(b));
        break;
      default:
        c = 0;
    }
    if (c !== 0) return term.desc ? -c : c;
  }
  const byRepository = compareStrings(a.repository, b.repository);
  if (byRepository !== 0) return byRepository;
  return compareStrings(a.digest, b.digest);
}

/** Code-unit string comparison, the order used for repository paths and digests. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareOptionalNumbers(a: number | undefined, b: number | undefined): number {
  if (a === undefined) return b === undefined ? 0 : -1;
  if (b === undefined) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function createdAtMs(x: Orderable): number | undefined {
  const ms = (x as ImageRecord).createdAtMs ?? (x as ImageKey).createdAt;
  return ms !== undefined && Number.isFinite(ms) ? ms : undefined;
}

/**
 * The native keyset cursor adapters hand back with a page: the last (repository, digest) returned,
 * base64url so it stays one opaque token field. `validRepository` is the adapter's own naming rule.
 */
export function encodeImageCursor(repository: string, digest: string): string {
  return Buffer.from(`${repository}@${digest}`, "utf8").toString("base64url");
}

const CURSOR_DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** The key a native cursor names; a cursor from elsewhere is INVALID_ARGUMENT on page_token. */
export function decodeImageCursor(cursor: string, registryId: string, validRepository: (repository: string) => boolean): ImageKey {
  const text = Buffer.from(cursor, "base64url").toString("utf8");
  const at = text.lastIndexOf("@");
  const repository = text.slice(0, at);
  const digest = text.slice(at + 1);
  if (at <= 0 || !validRepository(repository) || !CURSOR_DIGEST.test(digest)) {
    throw invalidField("page_token", `not a cursor of registry ${JSON.stringify(registryId)}`);
  }
  return { repository, digest };
}
