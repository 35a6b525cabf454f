// Page tokens: opaque, at most 100 characters, HMAC-signed, bound to one request and expiring.
//
// Token bytes (version 1), sent as unpadded base64url:
//   0      format: 0x11 inline state, 0x12 state kept in the store under a handle
//   1      key id
//   2..5   expiry, seconds since the epoch (uint32, big-endian)
//   6..9   binding hint: first 4 bytes of SHA-256(binding), only to word the error for a mismatch
//   10..   payload: the state itself (0..49 bytes) or a 12-byte random handle
//   last   16 bytes of HMAC-SHA256(key, domain ‖ every byte before the tag ‖ binding)
// At most 75 bytes, so at most 100 characters. The binding is authenticated in full by the tag;
// the 4-byte hint only decides between "different request" and "invalid" when the tag does not match.
//
// Keys and rotation: a key is a secret string; its HMAC key and its 1-byte id are derived from it, so
// the same secret gives the same key on every replica. Configured keys (pageTokens.keys, newest first)
// sign with the first and verify with all; the key generated into the store on first start stays a
// verifier. To rotate: put the new secret first in pageTokens.keys, keep the old ones listed for one
// token lifetime (24 h by default), then remove them. Every replica must list the same keys.

import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { Code, invalidField, isRegplaneError, RegplaneError } from "./errors.js";
import type { Store } from "./store.js";
import { CONFIG_DEFAULTS } from "./config-schema.js";

export const MAX_PAGE_TOKEN_LENGTH = 100;
/** The store setting holding the key generated on first start. */
export const PAGE_TOKEN_KEY_SETTING = "page_token.key";

const FORMAT_INLINE = 0x11;
const FORMAT_HANDLE = 0x12;
const HEADER_BYTES = 10;
const TAG_BYTES = 16;
const HANDLE_BYTES = 12;
const MAX_TOKEN_BYTES = (MAX_PAGE_TOKEN_LENGTH / 4) * 3;
/** Largest state carried in the token itself; larger states go to the store. */
export const MAX_INLINE_STATE_BYTES = MAX_TOKEN_BYTES - HEADER_BYTES - TAG_BYTES;
const MAC_DOMAIN = Buffer.from("regplane page token v1\0", "utf8");
const MIN_SECRET_LENGTH = 16;

export interface PageTokenKey {
  /** Carried in every token so the verifier picks the key without trying all of them. */
  id: number;
  /** HMAC-SHA256 key. */
  hmacKey: Uint8Array;
}

export interface PageTokenKeys {
  /** Signs new tokens. */
  current: PageTokenKey;
  /** Still verify tokens issued before a rotation. */
  previous: PageTokenKey[];
}

/** A key from a secret string (at least 16 characters); the same secret always gives the same key. */
export function pageTokenKeyFromSecret(secret: string): PageTokenKey {
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new Error(`page token keys must be at least ${MIN_SECRET_LENGTH} characters long`);
  }
  const hmacKey = createHash("sha256").update("regplane page token key\0").update(secret, "utf8").digest();
  const id = createHash("sha256").update("regplane page token key id\0").update(secret, "utf8").digest()[0];
  return { id, hmacKey };
}

/**
 * The signing keys: `configured` secrets (newest first) when given, with the store's own key kept as
 * a verifier; otherwise the store's key alone. The store's key is created on first start from 32
 * random bytes, atomically, so replicas sharing a store agree on it.
 */
export async function loadOrCreateTokenKeys(
  store: Pick<Store, "initSetting">,
  configured?: string | readonly string[],
): Promise<PageTokenKeys> {
  const stored = pageTokenKeyFromSecret(
    await store.initSetting(PAGE_TOKEN_KEY_SETTING, randomBytes(32).toString("base64url")),
  );
  const secrets = configured === undefined ? [] : typeof configured === "string" ? [configured] : [...configured];
  if (secrets.length === 0) return { current: stored, previous: [] };
  const keys = secrets.map(pageTokenKeyFromSecret);
  return { current: keys[0], previous: [...keys.slice(1), stored] };
}

/** A binding string from a request's parts; the parts are length-prefixed so no two lists collide. */
export function pageTokenBinding(...parts: readonly string[]): string {
  return parts.map((p) => `${p.length}:${p}`).join("");
}

export interface PageTokenCodecOptions {
  keys: PageTokenKeys;
  store: Pick<Store, "putPageState" | "getPageState">;
  /** How long a token stays valid; 24 hours by default. */
  ttlMs?: number;
  /** Request field named in errors. */
  field?: string;
}

export class PageTokenCodec {
  private readonly current: PageTokenKey;
  private readonly keysById = new Map<number, PageTokenKey[]>();
  private readonly store: Pick<Store, "putPageState" | "getPageState">;
  private readonly ttlMs: number;
  private readonly field: string;

  constructor(options: PageTokenCodecOptions) {
    this.current = options.keys.current;
    for (const key of [options.keys.current, ...options.keys.previous]) {
      const sameId = this.keysById.get(key.id) ?? [];
      sameId.push(key);
      this.keysById.set(key.id, sameId);
    }
    this.store = options.store;
    this.ttlMs = options.ttlMs ?? CONFIG_DEFAULTS.pageTokens.ttl;
    this.field = options.field ?? "page_token";
    if (!(this.ttlMs > 0)) throw new Error("page token lifetime must be positive");
  }

  /** A token for `state`, valid for requests with the same `binding` until the lifetime ends. */
  async encode(state: Uint8Array, binding: string, now: Date = new Date()): Promise<string> {
    const expiresSeconds = Math.min(0xffffffff, Math.ceil((now.getTime() + this.ttlMs) / 1000));
    let format: number;
    let payload: Uint8Array;
    if (state.length <= MAX_INLINE_STATE_BYTES) {
      format = FORMAT_INLINE;
      payload = state;
    } else {
      format = FORMAT_HANDLE;
      payload = randomBytes(HANDLE_BYTES);
      try {
        await this.store.putPageState(handleName(payload), state, new Date(expiresSeconds * 1000));
      } catch (err) {
        throw storeFailure(err, "could not save the page position");
      }
    }
    const body = Buffer.alloc(HEADER_BYTES + payload.length);
    body[0] = format;
    body[1] = this.current.id;
    body.writeUInt32BE(expiresSeconds, 2);
    bindingHint(binding).copy(body, 6);
    body.set(payload, HEADER_BYTES);
    return Buffer.concat([body, tag(this.current, body, binding)]).toString("base64url");
  }

  /** The state a token carries; INVALID_ARGUMENT on `field` for anything but a valid, live token. */
  async decode(token: string, binding: string, now: Date = new Date()): Promise<Uint8Array> {
    let handle: string | undefined;
    try {
      const bytes = this.parse(token);
      const body = bytes.subarray(0, bytes.length - TAG_BYTES);
      const received = bytes.subarray(bytes.length - TAG_BYTES);
      const candidates = this.keysById.get(body[1]) ?? [];
      if (!candidates.some((key) => timingSafeEqual(tag(key, body, binding), received))) {
        if (!candidates.length || bindingHint(binding).equals(body.subarray(6, HEADER_BYTES))) throw this.invalid();
        throw invalidField(this.field, "the page token was issued for a different request (scope, filter, order or caller)", `${this.field}.mismatch`);
      }
      if (now.getTime() >= body.readUInt32BE(2) * 1000) throw this.expired();
      const payload = body.subarray(HEADER_BYTES);
      if (body[0] === FORMAT_INLINE) return new Uint8Array(payload);
      handle = handleName(payload);
    } catch (err) {
      throw isRegplaneError(err) ? err : this.invalid();
    }
    let state: Uint8Array | undefined;
    try {
      state = await this.store.getPageState(handle);
    } catch (err) {
      throw storeFailure(err, "could not load the page position");
    }
    if (state === undefined) throw this.expired();
    return state;
  }

  /** Canonical base64url of a well-formed token, or INVALID_ARGUMENT. */
  private parse(token: unknown): Buffer {
    if (typeof token !== "string" || token.length === 0 || token.length > MAX_PAGE_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) {
      throw this.invalid();
    }
    const bytes = Buffer.from(token, "base64url");
    // Node ignores the unused low bits of the last character; re-encoding rejects such variants.
    if (bytes.toString("base64url") !== token) throw this.invalid();
    const format = bytes[0];
    const minimum = HEADER_BYTES + TAG_BYTES;
    if (format === FORMAT_INLINE ? bytes.length < minimum : format === FORMAT_HANDLE ? bytes.length !== minimum + HANDLE_BYTES : true) {
      throw this.invalid();
    }
    return bytes;
  }

  private invalid(): RegplaneError {
    return invalidField(this.field, "invalid page token", `${this.field}.invalid`);
  }

  private expired(): RegplaneError {
    return invalidField(this.field, "the page token has expired; list again from the first page", `${this.field}.expired`);
  }
}

function tag(key: PageTokenKey, body: Uint8Array, binding: string): Buffer {
  return createHmac("sha256", key.hmacKey).update(MAC_DOMAIN).update(body).update(binding, "utf8").digest().subarray(0, TAG_BYTES);
}

function bindingHint(binding: string): Buffer {
  return createHash("sha256").update(binding, "utf8").digest().subarray(0, 4);
}

function handleName(handle: Uint8Array): string {
  return "pt." + Buffer.from(handle).toString("base64url");
}

/** The store failing is the server's problem, not the caller's token: UNAVAILABLE. */
function storeFailure(err: unknown, message: string): RegplaneError {
  if (isRegplaneError(err)) return err;
  return new RegplaneError(Code.UNAVAILABLE, message, { cause: err, retryDelayMs: 1000 });
}
