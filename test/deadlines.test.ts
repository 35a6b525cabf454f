import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DeadlineTimers } from "../src/server/limits.js";

// The ticker runs on a clock the test moves, so "never before" and "once" hold at any machine speed.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
  // On a window boundary, so the ticks fall on the windows' edges.
  vi.setSystemTime(1_700_000_000_000);
});

afterEach(() => {
  vi.useRealTimers();
});

describe("DeadlineTimers", () => {
  it("fires each deadline once, never before it", () => {
    const timers = new DeadlineTimers(10);
    const start = Date.now();
    const fired: { name: string; at: number }[] = [];
    for (const [name, after] of [["a", 30], ["b", 30], ["c", 65]] as const) {
      timers.watch(start + after, () => fired.push({ name, at: Date.now() - start }));
    }
    vi.advanceTimersByTime(29);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired.map((f) => f.name).sort()).toEqual(["a", "b"]);
    vi.advanceTimersByTime(34);
    expect(fired).toHaveLength(2);
    vi.advanceTimersByTime(150);
    // c is due at 65 and fires at the end of its 10 ms window; nobody fires twice.
    expect(fired).toEqual([
      { name: "a", at: 30 },
      { name: "b", at: 30 },
      { name: "c", at: 70 },
    ]);
    expect(timers.ticking).toBe(false);
  });

  it("never fires a deadline whose call ended first, and stops ticking when nothing waits", () => {
    const timers = new DeadlineTimers(10);
    let fired = 0;
    const stops = Array.from({ length: 1000 }, () => timers.watch(Date.now() + 20, () => fired++));
    const kept = timers.watch(Date.now() + 20, () => fired++);
    expect(timers.ticking).toBe(true);
    for (const stop of stops) stop();
    vi.advanceTimersByTime(60);
    expect(fired).toBe(1);
    kept();
    vi.advanceTimersByTime(30);
    expect(fired).toBe(1);
    expect(timers.ticking).toBe(false);
  });

  it("stops ticking once every watched call has ended, without waiting for a deadline", () => {
    const timers = new DeadlineTimers(10);
    const stop = timers.watch(Date.now() + 60_000, () => {});
    stop();
    vi.advanceTimersByTime(10);
    expect(timers.ticking).toBe(false);
  });

  it("fires a deadline already past on the next tick", () => {
    const timers = new DeadlineTimers(10);
    let fired = false;
    timers.watch(Date.now() - 1000, () => (fired = true));
    expect(fired).toBe(false);
    vi.advanceTimersByTime(10);
    expect(fired).toBe(true);
  });
});
