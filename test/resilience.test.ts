import { afterEach, describe, expect, it, vi } from "vitest";
import { CircuitBreaker, Semaphore, attemptSignal, backoffDelay, onAbort, parseRetryAfter, raceSignal, sleep } from "../src/core/resilience.js";
import { settle } from "./support/gate.js";

describe("backoffDelay", () => {
  it("stays within [0, min(cap, base · 2^(attempt-1))]", () => {
    for (const [attempt, ceiling] of [[1, 100], [2, 200], [3, 400], [4, 800], [5, 1000], [20, 1000]] as const) {
      expect(backoffDelay(attempt, 100, 1000, () => 0)).toBe(0);
      expect(backoffDelay(attempt, 100, 1000, () => 0.999999)).toBe(ceiling - 1);
      const d = backoffDelay(attempt, 100, 1000);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(ceiling);
    }
  });

  it("treats attempt 0 like the first", () => {
    expect(backoffDelay(0, 100, 1000, () => 0.5)).toBe(50);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.UTC(2024, 0, 1, 12, 0, 0);

  it("reads delta-seconds", () => {
    expect(parseRetryAfter("3", now)).toBe(3000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
  });

  it("reads an HTTP date as the time left, never below zero", () => {
    expect(parseRetryAfter(new Date(now + 10_000).toUTCString(), now)).toBe(10_000);
    expect(parseRetryAfter(new Date(now - 10_000).toUTCString(), now)).toBe(0);
  });

  it("is undefined when absent or unparseable", () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter("soon", now)).toBeUndefined();
  });
});

describe("CircuitBreaker", () => {
  function breaker() {
    let now = 0;
    const b = new CircuitBreaker({ threshold: 3, cooldownMs: 5000, now: () => now });
    return { b, advance: (ms: number) => (now += ms) };
  }

  it("opens after threshold consecutive failures and rejects for the cooldown", () => {
    const { b, advance } = breaker();
    b.failure();
    b.failure();
    expect(b.admit()).toBe(0);
    b.failure();
    expect(b.admit()).toBe(5000);
    advance(4000);
    expect(b.admit()).toBe(1000);
  });

  it("lets one probe through when half-open: its success closes, its failure opens again", () => {
    const { b, advance } = breaker();
    for (let i = 0; i < 3; i++) b.failure();
    advance(5000);
    expect(b.admit()).toBe(0);
    expect(b.admit()).toBeGreaterThan(0);
    b.failure();
    expect(b.admit()).toBe(5000);

    advance(5000);
    expect(b.admit()).toBe(0);
    b.success();
    expect(b.consecutiveFailures).toBe(0);
    expect(b.admit()).toBe(0);
    expect(b.admit()).toBe(0);
  });

  it("frees the probe slot when the probe tells nothing (release)", () => {
    const { b, advance } = breaker();
    for (let i = 0; i < 3; i++) b.failure();
    advance(5000);
    expect(b.admit()).toBe(0);
    b.release();
    expect(b.admit()).toBe(0);
  });

  it("a success resets the count of consecutive failures", () => {
    const { b } = breaker();
    b.failure();
    b.failure();
    b.success();
    b.failure();
    b.failure();
    expect(b.admit()).toBe(0);
  });
});

describe("Semaphore", () => {
  it("holds waiters beyond the limit and hands a released permit to the first of them", async () => {
    const s = new Semaphore(2);
    const signal = new AbortController().signal;
    const first = await s.acquire(signal);
    await s.acquire(signal);
    expect(s.inUse).toBe(2);
    const order: string[] = [];
    const third = s.acquire(signal).then((release) => (order.push("third"), release));
    const fourth = s.acquire(signal).then((release) => (order.push("fourth"), release));
    await settle();
    expect(order).toEqual([]);
    first();
    first();
    await third;
    expect(order).toEqual(["third"]);
    expect(s.inUse).toBe(2);
    (await third)();
    await fourth;
    expect(order).toEqual(["third", "fourth"]);
  });

  it("drops a waiter whose signal aborts, without losing a permit", async () => {
    const s = new Semaphore(1);
    const release = await s.acquire(new AbortController().signal);
    const waiting = new AbortController();
    const gaveUp = s.acquire(waiting.signal);
    waiting.abort(new Error("gave up"));
    await expect(gaveUp).rejects.toThrow("gave up");
    release();
    expect(s.inUse).toBe(0);
    await s.acquire(new AbortController().signal);
    expect(s.inUse).toBe(1);
  });

  it("refuses a limit that is not a positive integer", () => {
    expect(() => new Semaphore(0)).toThrow(RangeError);
    expect(() => new Semaphore(1.5)).toThrow(RangeError);
  });
});

describe("sleep and raceSignal", () => {
  it("sleep rejects with the signal's reason when it aborts", async () => {
    const c = new AbortController();
    const slept = sleep(10_000, c.signal);
    c.abort(new Error("stop"));
    await expect(slept).rejects.toThrow("stop");
  });

  it("raceSignal gives the promise's value, or gives up at abort while the promise goes on", async () => {
    await expect(raceSignal(Promise.resolve(7), new AbortController().signal)).resolves.toBe(7);
    const c = new AbortController();
    let finish!: (v: number) => void;
    const shared = new Promise<number>((r) => (finish = r));
    const raced = raceSignal(shared, c.signal);
    c.abort(new Error("caller left"));
    await expect(raced).rejects.toThrow("caller left");
    finish(8);
    await expect(shared).resolves.toBe(8);
  });

  it("raceSignal rejects with the reason it is given", async () => {
    const c = new AbortController();
    c.abort();
    await expect(raceSignal(new Promise(() => {}), c.signal, () => new Error("mapped"))).rejects.toThrow("mapped");
  });
});

describe("attemptSignal", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("aborts with the parent's reason", () => {
    const parent = new AbortController();
    const attempt = attemptSignal(parent.signal, 60_000);
    expect(attempt.signal.aborted).toBe(false);
    parent.abort("caller gone");
    expect(attempt.signal.aborted).toBe(true);
    expect(attempt.signal.reason).toBe("caller gone");
    attempt.done();
  });

  it("starts aborted when the parent already is", () => {
    const parent = new AbortController();
    parent.abort("already");
    const attempt = attemptSignal(parent.signal, 60_000);
    expect(attempt.signal.reason).toBe("already");
    attempt.done();
  });

  it("aborts with a TimeoutError once the time is up", () => {
    vi.useFakeTimers();
    const attempt = attemptSignal(new AbortController().signal, 1000);
    vi.advanceTimersByTime(999);
    expect(attempt.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(attempt.signal.aborted).toBe(true);
    expect((attempt.signal.reason as Error).name).toBe("TimeoutError");
  });

  it("after done() neither the parent nor the timer reaches it", () => {
    vi.useFakeTimers();
    const parent = new AbortController();
    const attempt = attemptSignal(parent.signal, 1000);
    attempt.done();
    expect(vi.getTimerCount()).toBe(0);
    parent.abort("late");
    vi.advanceTimersByTime(5000);
    expect(attempt.signal.aborted).toBe(false);
  });
});

describe("onAbort", () => {
  /** Node's process warnings emitted while `fn` runs (they arrive on a later tick). */
  async function warningsDuring(fn: () => void): Promise<string[]> {
    const seen: string[] = [];
    const keep = (w: Error) => seen.push(w.name);
    process.on("warning", keep);
    try {
      fn();
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off("warning", keep);
    }
    return seen;
  }

  it("calls each listener once at abort, and not after it was removed", () => {
    const controller = new AbortController();
    let calls = 0;
    const removers = Array.from({ length: 50 }, () => onAbort(controller.signal, () => calls++));
    removers[0]();
    controller.abort();
    controller.abort();
    expect(calls).toBe(49);
  });

  it("lets dozens of listeners wait on one signal without Node's leak warning, which plain listeners get", async () => {
    const plain = new AbortController().signal;
    expect(await warningsDuring(() => {
      for (let i = 0; i < 11; i++) plain.addEventListener("abort", () => {});
    })).toContain("MaxListenersExceededWarning");
    const signal = new AbortController().signal;
    expect(await warningsDuring(() => {
      for (let i = 0; i < 100; i++) onAbort(signal, () => {});
    })).toEqual([]);
  });
});
