import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { governHeapGrowth, growingPercentFor } from "../src/server/heap.js";
import { until } from "./support/gate.js";

const MiB = 1024 * 1024;

describe("heap growth", () => {
  it("lets a small heap grow as V8 would and bounds a large one's garbage in bytes", () => {
    expect(growingPercentFor(10 * MiB, 48 * MiB)).toBe(0);
    expect(growingPercentFor(30 * MiB, 48 * MiB)).toBe(160);
    expect(growingPercentFor(160 * MiB, 48 * MiB)).toBe(30);
    expect(growingPercentFor(2000 * MiB, 48 * MiB)).toBe(10);
  });

  it("re-derives the growth after a full collection from what survived it", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const governor = governHeapGrowth(48 * MiB);
    try {
      // About 160 MB that stays alive across the collection: the growth must tighten to match it.
      const held = Array.from({ length: 160 }, (_, i) => new Array<number>(128 * 1024).fill(i + 0.5));
      const before = governor.percent;
      gc();
      // The collection is reported to the governor asynchronously: wait for its answer, not for a time.
      const matchesLiveHeap = () => Math.abs(governor.percent - growingPercentFor(getHeapStatistics().used_heap_size, 48 * MiB)) <= 5;
      await until(matchesLiveHeap);
      expect(governor.percent).not.toBe(before);
      expect(governor.percent).toBeGreaterThanOrEqual(10);
      expect(governor.percent).toBeLessThan(100);
      expect(held.length).toBe(160);
    } finally {
      governor.stop();
    }
  });
});
