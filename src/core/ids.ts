// Ids: image ids are deterministic (the same image always gets the same id, on any replica);
// operation ids are random and unguessable. Both fit the contract's 50-character limit.
import { createHash, randomBytes } from "node:crypto";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

// Ids are pure functions of their parts and every response carries several: remember recent ones.
const recentIds = new Map<string, string>();
const RECENT_IDS_KEPT = 50_000;

function digestId(prefix: string, parts: string[]): string {
  const key = prefix + parts.join("\0");
  const known = recentIds.get(key);
  if (known !== undefined) return known;
  // 160 bits of SHA-256: collisions are out of reach; 1 + 32 characters.
  const h = createHash("sha256").update(parts.join("\0")).digest().subarray(0, 20);
  const id = prefix + base32(h);
  if (recentIds.size >= RECENT_IDS_KEPT) recentIds.clear();
  recentIds.set(key, id);
  return id;
}

export function imageId(registryId: string, repository: string, digest: string): string {
  return digestId("i", [registryId, repository, digest]);
}

export function blobId(registryId: string, digest: string): string {
  return digestId("b", [registryId, digest]);
}

export function newOperationId(): string {
  return "op" + base32(randomBytes(20));
}

/** A random handle for state kept in the store. */
export function newHandle(bytes = 12): string {
  return base32(randomBytes(bytes));
}
