import { describe, expect, it } from "vitest";
import { DeadlineTimers } from "../src/server/limits.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("DeadlineTimers", () => {
  it("fires each deadline once, never before it", async () => {
    const timers = new DeadlineTimers(10);
    const start = Date.now();
    const fired: { name: string; at: number }[] = [];
    for (const [name, after] of [["a", 30], ["b", 30], ["c", 65]] as const) {
      timers.watch(start + after, () => fired.push({ name, at: Date.now() - start }));
    }
    await sleep(150);
    expect(fired.map((f) => f.name).sort()).toEqual(["a", "b", "c"]);
    for (const f of fired) {
      const due = f.name === "c" ? 65 : 30;
      expect(f.at).toBeGreaterThanOrEqual(due);
    }
    expect(timers.ticking).toBe(false);
  });

  it("never fires a deadline whose call ended first, and stops ticking when nothing waits", async () => {
    const timers = new DeadlineTimers(10);
    let fired = 0;
    const stops = Array.from({ length: 1000 }, () => timers.watch(Date.now() + 20, () => fired++));
    const kept = timers.watch(Date.now() + 20, () => fired++);
    expect(timers.ticking).toBe(true);
    for (const stop of stops) stop();
    await sleep(60);
    expect(fired).toBe(1);
    kept();
    await sleep(30);
    expect(timers.ticking).toBe(false);
  });

  it("fires a deadline already past on the next tick", async () => {
    const timers = new DeadlineTimers(10);
    let fired = false;
    timers.watch(Date.now() - 1000, () => (fired = true));
    expect(fired).toBe(false);
    await sleep(30);
    expect(fired).toBe(true);
  });
});
