// API keys as `regplane keys create` makes them and the config stores them: a random key, and its hash
// ("sha256:<hex>" or scrypt). The server's authenticator verifies presented keys against these hashes.
import { createHash, randomBytes } from "node:crypto";
import { scryptOffPool } from "./key-hashing.js";

const KEY_PREFIX = "rpk_";
const SCRYPT = { N: 16384, r: 8, p: 1 };

/** A new random API key: 256 bits, so a fast hash of it cannot be reversed by guessing. */
export function newApiKey(): string {
  return KEY_PREFIX + randomBytes(32).toString("base64url");
}

export function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** The config form of a key's hash: "sha256:<hex>" (default) or "scrypt:<N>:<r>:<p>:<salt b64>:<hash b64>". */
export async function hashApiKey(key: string, kind: "sha256" | "scrypt" = "sha256"): Promise<string> {
  if (kind === "sha256") return `sha256:${sha256(key).toString("hex")}`;
  const salt = randomBytes(16);
  const hash = await scryptOffPool(key, salt, 32, { ...SCRYPT, maxmem: 64 * 1024 * 1024 });
  return `scrypt:${SCRYPT.N}:${SCRYPT.r}:${SCRYPT.p}:${salt.toString("base64")}:${hash.toString("base64")}`;
}
