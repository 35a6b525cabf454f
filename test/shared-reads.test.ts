// core/shared-reads.ts: what a walk's later pages get back — the read in flight, a finished one until
// its TTL (counted from when it began) runs out, a new one after a failure — and the bound on keys.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SharedReads } from "../src/core/shared-reads.js";

/** A read the test finishes itself. */
function pending<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

/** Moves the clock; lru-cache reuses the time it last read for a millisecond, so a real few pass too. */
async function at(ms: number): Promise<void> {
  vi.setSystemTime(ms);
  await new Promise((r) => setTimeout(r, 5));
}

describe("SharedReads", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => vi.useRealTimers());

  it("shares a read in flight with every caller, fresh or not, however long it takes", async () => {
    const reads = new SharedReads<string>(10, 1_000);
    const first = reads.get("a", true, () => pending<string>().promise);
    await at(1_000_000 + 60_000);
    expect(reads.get("a", true, () => Promise.resolve("other"))).toBe(first);
    expect(reads.get("a", false, () => Promise.resolve("other"))).toBe(first);
  });

  it("serves a finished read to callers that are not fresh until ttlMs after it began", async () => {
    const reads = new SharedReads<string>(10, 1_000);
    const read = pending<string>();
    const first = reads.get("a", true, () => read.promise);
    await at(1_000_000 + 600);
    read.resolve("one");
    await flush();
    expect(first.settled).toBe(true);
    expect(reads.get("a", false, () => Promise.resolve("two"))).toBe(first);
    await at(1_000_000 + 999);
    expect(reads.get("a", false, () => Promise.resolve("two"))).toBe(first);
    await at(1_000_000 + 1_001);
    expect(await reads.get("a", false, () => Promise.resolve("two")).promise).toBe("two");
  });

  it("gives a fresh caller a new read instead of a finished one", async () => {
    const reads = new SharedReads<string>(10, 60_000);
    await reads.get("a", true, () => Promise.resolve("one")).promise;
    await flush();
    const fresh = reads.get("a", true, () => Promise.resolve("two"));
    expect(await fresh.promise).toBe("two");
    await flush();
    expect(reads.get("a", false, () => Promise.resolve("three"))).toBe(fresh);
  });

  it("drops a failed read, and with no TTL a finished one", async () => {
    const failing = new SharedReads<string>(10, 1_000);
    const read = pending<string>();
    const first = failing.get("a", false, () => read.promise);
    read.reject(new Error("down"));
    await first.promise.catch(() => {});
    await flush();
    expect(failing.size).toBe(0);
    expect(failing.get("a", false, () => Promise.resolve("again"))).not.toBe(first);

    const untimed = new SharedReads<string>(10, 0);
    await untimed.get("a", false, () => Promise.resolve("one")).promise;
    await flush();
    expect(untimed.size).toBe(0);
  });

  it("keeps at most max keys, the least recently used forgotten", async () => {
    const reads = new SharedReads<number>(3, 60_000);
    for (let i = 0; i < 100; i++) await reads.get(`scope-${i}`, false, () => Promise.resolve(i)).promise;
    expect(reads.size).toBe(3);
    expect(await reads.get("scope-99", false, () => Promise.resolve(-1)).promise).toBe(99);
    expect(await reads.get("scope-0", false, () => Promise.resolve(-1)).promise).toBe(-1);
  });
});
