import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Code, RegplaneError } from "../src/core/errors.js";
import {
  loadOrCreateTokenKeys,
  MAX_INLINE_STATE_BYTES,
  PAGE_TOKEN_KEY_SETTING,
  pageTokenBinding,
  PageTokenCodec,
  pageTokenKeyFromSecret,
  type PageTokenKeys,
} from "../src/core/pagetoken.js";
import { openSqliteStore, type SqliteStore } from "../src/store/sqlite.js";
import type { Store } from "../src/core/store.js";

type TokenStore = Pick<Store, "putPageState" | "getPageState" | "getSetting" | "initSetting">;

/** Just the page-state and settings part of a Store, in memory. */
class MemoryTokenStore implements TokenStore {
  readonly states = new Map<string, { state: Uint8Array; expiresAt: Date }>();
  readonly settings = new Map<string, string>();

  async putPageState(handle: string, state: Uint8Array, expiresAt: Date): Promise<void> {
    this.states.set(handle, { state: new Uint8Array(state), expiresAt });
  }

  async getPageState(handle: string): Promise<Uint8Array | undefined> {
    return this.states.get(handle)?.state;
  }

  async getSetting(name: string): Promise<string | undefined> {
    return this.settings.get(name);
  }

  async initSetting(name: string, value: string): Promise<string> {
    if (!this.settings.has(name)) this.settings.set(name, value);
    return this.settings.get(name)!;
  }
}

const KEY_A = pageTokenKeyFromSecret("first secret, long enough");
const KEY_B = pageTokenKeyFromSecret("second secret, long enough");
const BINDING = pageTokenBinding("images", "folder:team-a", "", "name+", "alice");
const NOW = new Date("2030-01-01T00:00:00Z");

function codec(store: TokenStore, keys: PageTokenKeys = { current: KEY_A, previous: [] }, ttlMs?: number): PageTokenCodec {
  return new PageTokenCodec({ keys, store, ttlMs });
}

function bytes(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

async function rejection(p: Promise<unknown>): Promise<RegplaneError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RegplaneError);
    return err as RegplaneError;
  }
  throw new Error("expected the promise to reject");
}

async function expectInvalid(p: Promise<unknown>, description?: RegExp): Promise<void> {
  const err = await rejection(p);
  expect(err.code).toBe(Code.INVALID_ARGUMENT);
  expect(err.fieldViolations).toHaveLength(1);
  expect(err.fieldViolations[0].field).toBe("page_token");
  if (description) expect(err.fieldViolations[0].description).toMatch(description);
}

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

describe("PageTokenCodec", () => {
  it("round-trips inline and stored states, always within 100 characters, never readable", async () => {
    const store = new MemoryTokenStore();
    const c = codec(store);
    for (const n of [0, 1, 10, MAX_INLINE_STATE_BYTES - 1, MAX_INLINE_STATE_BYTES, MAX_INLINE_STATE_BYTES + 1, 200, 5000]) {
      const state = bytes(n);
      const token = await c.encode(state, BINDING, NOW);
      expect(token.length).toBeLessThanOrEqual(100);
      expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(await c.decode(token, BINDING, NOW)).toEqual(state);
    }
    expect(store.states.size).toBe(3);
    const json = new TextEncoder().encode(JSON.stringify({ registry: "local", cursor: "abc" }));
    const token = await c.encode(json, BINDING, NOW);
    expect(token).not.toContain("registry");
  });

  it("rejects every single-character change of inline and handle tokens", async () => {
    const c = codec(new MemoryTokenStore());
    for (const state of [bytes(20), bytes(300)]) {
      const token = await c.encode(state, BINDING, NOW);
      for (let i = 0; i < token.length; i++) {
        for (const replacement of [BASE64URL[(BASE64URL.indexOf(token[i]) + 1) % 64], BASE64URL[(BASE64URL.indexOf(token[i]) + 33) % 64]]) {
          const tampered = token.slice(0, i) + replacement + token.slice(i + 1);
          await expectInvalid(c.decode(tampered, BINDING, NOW));
        }
      }
    }
  });

  it("rejects every flipped bit of the token bytes", async () => {
    const c = codec(new MemoryTokenStore());
    const token = await c.encode(bytes(33), BINDING, NOW);
    const raw = Buffer.from(token, "base64url");
    for (let i = 0; i < raw.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const flipped = Buffer.from(raw);
        flipped[i] ^= 1 << bit;
        await expectInvalid(c.decode(flipped.toString("base64url"), BINDING, NOW));
      }
    }
  });

  it("rejects truncated, extended, garbage and non-base64 tokens as invalid", async () => {
    const c = codec(new MemoryTokenStore());
    const token = await c.encode(bytes(30), BINDING, NOW);
    for (let n = 0; n < token.length; n++) await expectInvalid(c.decode(token.slice(0, n), BINDING, NOW), /invalid page token/);
    await expectInvalid(c.decode(token + "A", BINDING, NOW), /invalid page token/);
    await expectInvalid(c.decode(token + "AAAA", BINDING, NOW), /invalid page token/);
    for (const garbage of ["x", "====", "a b", "next", "{\"a\":1}", "A".repeat(101), "%%%", "🙂", "A".repeat(100), token.replace(/./g, "A")]) {
      await expectInvalid(c.decode(garbage, BINDING, NOW), /invalid page token/);
    }
    // Standard base64 characters and padding are not base64url.
    await expectInvalid(c.decode(token.replace(/-/g, "+").replace(/_/g, "/") + "=", BINDING, NOW), /invalid page token/);
  });

  it("rejects a token of another format version", async () => {
    const c = codec(new MemoryTokenStore());
    const raw = Buffer.from(await c.encode(bytes(10), BINDING, NOW), "base64url");
    for (const version of [0x00, 0x01, 0x13, 0x21, 0xff]) {
      const other = Buffer.from(raw);
      other[0] = version;
      await expectInvalid(c.decode(other.toString("base64url"), BINDING, NOW), /invalid page token/);
    }
  });

  it("refuses a token issued for a different request", async () => {
    const c = codec(new MemoryTokenStore());
    for (const state of [bytes(5), bytes(500)]) {
      const token = await c.encode(state, BINDING, NOW);
      for (const other of [
        pageTokenBinding("images", "folder:team-b", "", "name+", "alice"),
        pageTokenBinding("images", "folder:team-a", "", "name+", "bob"),
        pageTokenBinding("images", "folder:team-a", "", "name-", "alice"),
        pageTokenBinding("images", "folder:team-a", "local/app", "name+", "alice"),
      ]) {
        await expectInvalid(c.decode(token, other, NOW), /different request/);
      }
    }
    // Length prefixes keep differently split parts apart.
    expect(pageTokenBinding("ab", "c")).not.toBe(pageTokenBinding("a", "bc"));
  });

  it("expires after the lifetime (24 hours by default, configurable)", async () => {
    const store = new MemoryTokenStore();
    const c = codec(store);
    for (const state of [bytes(5), bytes(500)]) {
      const token = await c.encode(state, BINDING, NOW);
      expect(await c.decode(token, BINDING, new Date(NOW.getTime() + 24 * 3600_000 - 1000))).toEqual(state);
      await expectInvalid(c.decode(token, BINDING, new Date(NOW.getTime() + 24 * 3600_000 + 1000)), /expired/);
    }
    const short = codec(store, { current: KEY_A, previous: [] }, 60_000);
    const token = await short.encode(bytes(5), BINDING, NOW);
    expect(await short.decode(token, BINDING, new Date(NOW.getTime() + 59_000))).toEqual(bytes(5));
    await expectInvalid(short.decode(token, BINDING, new Date(NOW.getTime() + 61_000)), /expired/);
    const [handle] = store.states.values();
    expect(handle.expiresAt.getTime()).toBeGreaterThanOrEqual(NOW.getTime() + 24 * 3600_000);
  });

  it("reports a stored state that is gone as expired", async () => {
    const store = new MemoryTokenStore();
    const c = codec(store);
    const token = await c.encode(bytes(300), BINDING, NOW);
    store.states.clear();
    await expectInvalid(c.decode(token, BINDING, NOW), /expired/);
  });

  it("keeps verifying tokens signed with a previous key after rotation", async () => {
    const store = new MemoryTokenStore();
    const before = codec(store, { current: KEY_A, previous: [] });
    const after = codec(store, { current: KEY_B, previous: [KEY_A] });
    const onlyB = codec(store, { current: KEY_B, previous: [] });
    for (const state of [bytes(5), bytes(500)]) {
      const old = await before.encode(state, BINDING, NOW);
      expect(await after.decode(old, BINDING, NOW)).toEqual(state);
      await expectInvalid(onlyB.decode(old, BINDING, NOW), /invalid page token/);
      const fresh = await after.encode(state, BINDING, NOW);
      expect(await onlyB.decode(fresh, BINDING, NOW)).toEqual(state);
      await expectInvalid(before.decode(fresh, BINDING, NOW), /invalid page token/);
    }
  });

  it("rejects a key id it does not hold, and a forged tag under a known id", async () => {
    const c = codec(new MemoryTokenStore());
    const raw = Buffer.from(await c.encode(bytes(10), BINDING, NOW), "base64url");
    const unknownId = Buffer.from(raw);
    unknownId[1] = (KEY_A.id + 1) & 0xff;
    await expectInvalid(c.decode(unknownId.toString("base64url"), BINDING, NOW), /invalid page token/);
    const sameIdOtherSecret = { id: KEY_A.id, hmacKey: KEY_B.hmacKey };
    const forged = await codec(new MemoryTokenStore(), { current: sameIdOtherSecret, previous: [] }).encode(bytes(10), BINDING, NOW);
    await expectInvalid(c.decode(forged, BINDING, NOW), /invalid page token/);
  });

  it("never throws anything but INVALID_ARGUMENT for random input", async () => {
    const c = codec(new MemoryTokenStore());
    for (let n = 0; n < 500; n++) {
      const length = 1 + (n % 100);
      const token = Array.from({ length }, (_, i) => BASE64URL[(n * 7919 + i * 104729) % 64]).join("");
      await expectInvalid(c.decode(token, BINDING, NOW));
    }
  });
});

describe("PageTokenCodec on the SQLite store", () => {
  const dirs: string[] = [];
  const stores: SqliteStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function open(file: string): SqliteStore {
    const store = openSqliteStore(file);
    stores.push(store);
    return store;
  }

  it("decodes a stored state after a restart, with keys the store kept", async () => {
    const dir = mkdtempSync(join(tmpdir(), "regplane-pagetoken-"));
    dirs.push(dir);
    const file = join(dir, "state.db");
    const first = open(file);
    const keys = await loadOrCreateTokenKeys(first);
    const state = bytes(400);
    const now = new Date();
    const token = await new PageTokenCodec({ keys, store: first }).encode(state, BINDING, now);
    expect(token.length).toBeLessThanOrEqual(100);
    await first.close();
    stores.splice(stores.indexOf(first), 1);

    const second = open(file);
    const again = await loadOrCreateTokenKeys(second);
    expect(again.current.id).toBe(keys.current.id);
    expect(Buffer.from(again.current.hmacKey)).toEqual(Buffer.from(keys.current.hmacKey));
    expect(await new PageTokenCodec({ keys: again, store: second }).decode(token, BINDING, now)).toEqual(state);
  });
});

describe("loadOrCreateTokenKeys", () => {
  it("creates one random key in the store on first start and reuses it", async () => {
    const store = new MemoryTokenStore();
    const a = await loadOrCreateTokenKeys(store);
    const b = await loadOrCreateTokenKeys(store);
    expect(store.settings.get(PAGE_TOKEN_KEY_SETTING)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(b.current.id).toBe(a.current.id);
    expect(Buffer.from(b.current.hmacKey)).toEqual(Buffer.from(a.current.hmacKey));
    expect(a.previous).toEqual([]);
    const other = await loadOrCreateTokenKeys(new MemoryTokenStore());
    expect(Buffer.from(other.current.hmacKey)).not.toEqual(Buffer.from(a.current.hmacKey));
  });

  it("signs with the first configured key and still verifies with the others and the stored one", async () => {
    const store = new MemoryTokenStore();
    const storedOnly = codec(store, await loadOrCreateTokenKeys(store));
    const oldToken = await storedOnly.encode(bytes(8), BINDING, NOW);

    const configured = await loadOrCreateTokenKeys(store, ["second secret, long enough", "first secret, long enough"]);
    expect(configured.current.id).toBe(KEY_B.id);
    const c = codec(store, configured);
    expect(await c.decode(oldToken, BINDING, NOW)).toEqual(bytes(8));
    expect(await c.decode(await codec(store).encode(bytes(8), BINDING, NOW), BINDING, NOW)).toEqual(bytes(8));
    expect(await codec(store, { current: KEY_B, previous: [] }).decode(await c.encode(bytes(8), BINDING, NOW), BINDING, NOW)).toEqual(bytes(8));

    expect((await loadOrCreateTokenKeys(store, "second secret, long enough")).current.id).toBe(KEY_B.id);
    await expect(loadOrCreateTokenKeys(store, ["too short"])).rejects.toThrow(/at least 16/);
  });
});
