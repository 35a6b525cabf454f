// Ids: image and repository ids are deterministic (the same image always gets the same id, on any replica);
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

function digestId(prefix: string, parts: string[]): string {
  // 160 bits of SHA-256: collisions are out of reach; 1 + 32 characters.
  const h = createHash("sha256").update(parts.join("\0")).digest().subarray(0, 20);
  return prefix + base32(h);
}

/**
 * Ids are pure functions of their parts and every response carries several, so recent ones are kept,
 * keyed by the parts themselves: a string hashes once and V8 keeps the hash, while a joined key would
 * be a new string to hash on every lookup.
 */
class IdMemo {
  private readonly byFirst = new Map<string, Map<string, string | Map<string, string>>>();
  private size = 0;

  constructor(private readonly max: number) {}

  get(a: string, b: string, c: string | undefined, make: () => string): string {
    let level = this.byFirst.get(a);
    if (level === undefined) {
      level = new Map();
      this.byFirst.set(a, level);
    }
    if (c === undefined) {
      const known = level.get(b);
      if (typeof known === "string") return known;
      return this.remember(level, b, make());
    }
    let inner = level.get(b);
    if (inner === undefined || typeof inner === "string") {
      inner = new Map<string, string>();
      level.set(b, inner);
    }
    const known = inner.get(c);
    if (known !== undefined) return known;
    return this.remember(inner, c, make());
  }

  private remember(map: Map<string, unknown>, key: string, id: string): string {
    if (this.size >= this.max) {
      this.byFirst.clear();
      this.size = 0;
    }
    map.set(key, id);
    this.size++;
    return id;
  }
}

const imageIds = new IdMemo(50_000);
const blobIds = new IdMemo(50_000);
const repositoryIds = new IdMemo(50_000);

export function imageId(registryId: string, repository: string, digest: string): string {
  return imageIds.get(registryId, repository, digest, () => digestId("i", [registryId, repository, digest]));
}

export function blobId(registryId: string, digest: string): string {
  return blobIds.get(registryId, digest, undefined, () => digestId("b", [registryId, digest]));
}

export function repositoryId(registryId: string, repository: string): string {
  return repositoryIds.get(registryId, repository, undefined, () => digestId("r", [registryId, repository]));
}

export function newOperationId(): string {
  return "op" + base32(randomBytes(20));
}

/** A random handle for state kept in the store. */
export function newHandle(bytes = 12): string {
  return base32(randomBytes(bytes));
}
