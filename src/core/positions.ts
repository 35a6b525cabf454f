// Page positions as bytes, for page tokens: the cross-registry walk's position and the keyset cursors
// of the List RPCs that page one sorted source. Hand-written rather than a protobuf message: core knows
// no protobuf, and the format keeps trailing registries still at their start out of the ≤ 100-char token.
//
// Walk position: format byte (1 native, 2 ordered), 4-byte fingerprint of the registry ids in scope,
// varint count of leading registries that are done, varint count of explicit entries, the entries, and
// nothing for the trailing registries still at their start. Entry: 0 start, 1 done, 2 native cursor
// (string), 3 key (flags, repository, digest, [|created_at| as varint, sign in flags]).
// Strings are varint length + UTF-8.

import { invalidField, isRegplaneError, type RegplaneError } from "./errors.js";
import type { ImageKey } from "./provider.js";

/** Where one registry's stream stands. */
export type StreamPosition =
  | { kind: "start" }
  | { kind: "done" }
  | { kind: "cursor"; cursor: string }
  | { kind: "after"; key: ImageKey };

export interface WalkPosition {
  ordered: boolean;
  /** Fingerprint of the registry ids in scope, so a token outliving a change of the scope is refused. */
  scope: number;
  /** One per registry in scope, in scope order. */
  streams: StreamPosition[];
}

export function invalidPosition(): RegplaneError {
  return invalidField("page_token", "invalid page token", "page_token.invalid");
}

const FORMAT_NATIVE = 1;
const FORMAT_ORDERED = 2;
const ENTRY_START = 0;
const ENTRY_DONE = 1;
const ENTRY_CURSOR = 2;
const ENTRY_KEY = 3;
/** Flags of a key entry: whether created_at follows, and its sign (the magnitude is a varint). */
const KEY_CREATED = 1;
const KEY_CREATED_NEGATIVE = 2;

export function encodeWalkPosition(position: WalkPosition): Uint8Array {
  const w = new ByteWriter();
  w.byte(position.ordered ? FORMAT_ORDERED : FORMAT_NATIVE);
  w.uint32(position.scope);
  const { streams } = position;
  let leadingDone = 0;
  while (leadingDone < streams.length && streams[leadingDone].kind === "done") leadingDone++;
  let end = streams.length;
  while (end > leadingDone && streams[end - 1].kind === "start") end--;
  w.varint(leadingDone);
  w.varint(end - leadingDone);
  for (const s of streams.slice(leadingDone, end)) {
    switch (s.kind) {
      case "start":
        w.byte(ENTRY_START);
        break;
      case "done":
        w.byte(ENTRY_DONE);
        break;
      case "cursor":
        w.byte(ENTRY_CURSOR);
        w.string(s.cursor);
        break;
      case "after":
        w.byte(ENTRY_KEY);
        w.byte(s.key.createdAt === undefined ? 0 : s.key.createdAt < 0 ? KEY_CREATED_NEGATIVE : KEY_CREATED);
        w.string(s.key.repository);
        w.string(s.key.digest);
        if (s.key.createdAt !== undefined) w.varint(milliseconds(Math.abs(s.key.createdAt)));
        break;
    }
  }
  return w.bytes();
}

/** INVALID_ARGUMENT on page_token unless `bytes` is a position over exactly `registryCount` registries. */
export function decodeWalkPosition(bytes: Uint8Array, registryCount: number): WalkPosition {
  try {
    const r = new ByteReader(bytes);
    const format = r.byte();
    if (format !== FORMAT_NATIVE && format !== FORMAT_ORDERED) throw invalidPosition();
    const ordered = format === FORMAT_ORDERED;
    const scope = r.uint32();
    const leadingDone = r.varint();
    const explicit = r.varint();
    if (leadingDone + explicit > registryCount) throw invalidPosition();
    const streams: StreamPosition[] = [];
    for (let i = 0; i < leadingDone; i++) streams.push({ kind: "done" });
    for (let i = 0; i < explicit; i++) {
      const entry = r.byte();
      if (entry === ENTRY_START) streams.push({ kind: "start" });
      else if (entry === ENTRY_DONE) streams.push({ kind: "done" });
      else if (entry === ENTRY_CURSOR && !ordered) streams.push({ kind: "cursor", cursor: r.string() });
      else if (entry === ENTRY_KEY && ordered) {
        const flags = r.byte();
        if (flags > KEY_CREATED_NEGATIVE) throw invalidPosition();
        const key: ImageKey = { repository: r.string(), digest: r.string() };
        if (flags === KEY_CREATED) key.createdAt = r.varint();
        else if (flags === KEY_CREATED_NEGATIVE) key.createdAt = -r.varint();
        streams.push({ kind: "after", key });
      } else throw invalidPosition();
    }
    while (streams.length < registryCount) streams.push({ kind: "start" });
    r.end();
    return { ordered, scope, streams };
  } catch (err) {
    throw isRegplaneError(err) ? err : invalidPosition();
  }
}

/**
 * A keyset cursor over a tuple of strings (e.g. [namespace name] or [created-at ms, operation id]),
 * for the List RPCs that page one sorted source.
 */
export function encodeCursor(key: readonly string[]): Uint8Array {
  const w = new ByteWriter();
  w.varint(key.length);
  for (const part of key) w.string(part);
  return w.bytes();
}

/** INVALID_ARGUMENT on page_token unless `state` is a cursor of `arity` parts. */
export function decodeCursor(state: Uint8Array, arity: number): string[] {
  try {
    const r = new ByteReader(state);
    const count = r.varint();
    if (count !== arity) throw invalidPosition();
    const key: string[] = [];
    for (let i = 0; i < count; i++) key.push(r.string());
    r.end();
    return key;
  } catch (err) {
    throw isRegplaneError(err) ? err : invalidPosition();
  }
}

function milliseconds(n: number): number {
  if (!Number.isSafeInteger(n)) throw new RangeError("created_at is not an integer number of milliseconds");
  return n;
}

class ByteWriter {
  private readonly out: number[] = [];

  byte(b: number): void {
    this.out.push(b & 0xff);
  }

  uint32(n: number): void {
    this.out.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  }

  /** Unsigned LEB128 over safe integers (arithmetic, not 32-bit shifts). */
  varint(n: number): void {
    let v = n;
    while (v >= 0x80) {
      this.out.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.out.push(v);
  }

  string(s: string): void {
    const utf8 = Buffer.from(s, "utf8");
    this.varint(utf8.length);
    for (const b of utf8) this.out.push(b);
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

class ByteReader {
  private offset = 0;

  constructor(private readonly data: Uint8Array) {}

  byte(): number {
    if (this.offset >= this.data.length) throw invalidPosition();
    return this.data[this.offset++];
  }

  uint32(): number {
    return ((this.byte() << 24) >>> 0) + (this.byte() << 16) + (this.byte() << 8) + this.byte();
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(value)) break;
        return value;
      }
      scale *= 0x80;
    }
    throw invalidPosition();
  }

  string(): string {
    const length = this.varint();
    if (length > this.data.length - this.offset) throw invalidPosition();
    const bytes = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  }

  end(): void {
    if (this.offset !== this.data.length) throw invalidPosition();
  }
}
