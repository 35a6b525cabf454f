// The weight-bounded LRU every adapter cache uses.
import { describe, expect, it } from "vitest";
import { WeightedLru } from "../src/core/lru.js";

describe("WeightedLru", () => {
  it("keeps the total weight within its bound, evicting the least recently used first", () => {
    const lru = new WeightedLru<string, number>(10);
    lru.set("a", 1, 4);
    lru.set("b", 2, 4);
    expect(lru.get("a")).toBe(1); // a is now the most recently used
    lru.set("c", 3, 4);
    expect(lru.get("b")).toBeUndefined();
    expect(lru.get("a")).toBe(1);
    expect(lru.get("c")).toBe(3);
    expect(lru.weight).toBe(8);
    expect(lru.size).toBe(2);
  });

  it("drops an entry heavier than the bound, and the entry it would have replaced", () => {
    const lru = new WeightedLru<string, string>(10);
    lru.set("k", "small", 2);
    lru.set("k", "huge", 11);
    expect(lru.get("k")).toBeUndefined();
    expect(lru.weight).toBe(0);
  });

  it("stores null values, counts fractional and zero weights as at least one unit, and forgets on delete and clear", () => {
    const lru = new WeightedLru<string, number | null>(3);
    lru.set("n", null, 0);
    expect(lru.get("n")).toBeNull();
    lru.set("f", 1, 1.2);
    expect(lru.weight).toBe(3);
    lru.delete("n");
    expect(lru.get("n")).toBeUndefined();
    lru.clear();
    expect(lru.size).toBe(0);
  });

  it("keeps nothing with a bound below one unit", () => {
    const lru = new WeightedLru<string, number>(0);
    lru.set("a", 1, 1);
    expect(lru.get("a")).toBeUndefined();
    expect(lru.size).toBe(0);
  });

  it("stays bounded across 10,000 distinct keys", () => {
    const lru = new WeightedLru<string, number>(1000);
    for (let i = 0; i < 10_000; i++) lru.set(`repo-${i}`, i, 7);
    expect(lru.weight).toBeLessThanOrEqual(1000);
    expect(lru.size).toBe(Math.floor(1000 / 7));
    expect(lru.get("repo-9999")).toBe(9999);
  });
});
