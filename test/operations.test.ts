// Kept as one file: one suite per path of the engine (run, cancel, wait, crash recovery), sharing the store, gate and request helpers.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Code, RegplaneError } from "../src/core/errors.js";
import type { NewOperation, OperationEngineOptions, OperationHandler } from "../src/core/operation-types.js";
import { OperationEngine } from "../src/core/operations.js";
import { openSqliteStore } from "../src/store/sqlite.js";
import type { OperationRecord, StatusRecord, Store } from "../src/core/store.js";
import { advanceUntil, advanceUntilTrue, later, useTestClock } from "./support/clock.js";
import { Gate, settledNow, until } from "./support/gate.js";
import { any, newOp } from "./support/store-contract.js";

const EMPTY = any("type.googleapis.com/google.protobuf.Empty", []);

function encodeError(err: unknown): StatusRecord {
  if (err instanceof RegplaneError) return { code: err.code, message: err.message, details: [] };
  return { code: Code.UNKNOWN, message: String(err), details: [] };
}

function cancelledStatus(): StatusRecord {
  return { code: Code.CANCELLED, message: "operation cancelled", details: [] };
}

/** A store whose getOperation calls are counted, to check that waiting does not poll hard. */
function countingStore(store: Store): { store: Store; reads: () => number } {
  let reads = 0;
  const counted = new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== "function") return value;
      if (prop === "getOperation") {
        return (...args: [string]) => {
          reads++;
          return target.getOperation(...args);
        };
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
  return { store: counted, reads: () => reads };
}

/** A promise with its resolve exposed, to hold a handler at a known point. */
function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

function request(overrides: Partial<NewOperation> = {}): NewOperation {
  return {
    kind: "test.work",
    resourceId: "img1",
    registryId: "local",
    description: "Test work",
    createdBy: "alice",
    metadata: any("type.googleapis.com/regplane.v1.DeleteImageMetadata", [1]),
    params: { n: 1 },
    ...overrides,
  };
}

describe("OperationEngine", () => {
  let dir: string;
  let file: string;
  const stores: Store[] = [];
  const engines: OperationEngine[] = [];
  let errors: Array<{ obj: object; msg?: string }>;

  function openStore(): Store {
    const store = openSqliteStore(file);
    stores.push(store);
    return store;
  }

  function makeEngine(store: Store, options: Partial<OperationEngineOptions> = {}): OperationEngine {
    const engine = new OperationEngine({
      store,
      encodeError,
      cancelledStatus,
      pollMs: 50,
      logger: { info() {}, warn() {}, error: (obj, msg) => errors.push({ obj, msg }) },
      ...options,
    });
    engines.push(engine);
    return engine;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "regplane-ops-"));
    file = join(dir, "state.db");
    errors = [];
  });

  afterEach(async () => {
    const stopping = Promise.all(engines.splice(0).map((engine) => engine.stop(0)));
    await (vi.isFakeTimers() ? advanceUntil(stopping) : stopping);
    vi.useRealTimers();
    for (const store of stores.splice(0)) await store.close();
    await rm(dir, { recursive: true, force: true });
    expect(errors).toEqual([]);
  });

  it("runs a submitted operation and records its response", async () => {
    const store = openStore();
    const finished: Array<[OperationRecord, number]> = [];
    const engine = makeEngine(store, { onFinished: (op, ms) => finished.push([op, ms]) });
    const seen: unknown[] = [];
    const response = any("type.googleapis.com/regplane.v1.Image", [1, 2, 3]);
    engine.register("test.work", async (params, ctx) => {
      seen.push(params, ctx.operation.id, ctx.operation.state, ctx.signal.aborted);
      return response;
    });
    engine.start();

    const { operation, created } = await engine.submit(request({ params: { imageId: "img9" } }));
    expect(created).toBe(true);
    expect(operation).toMatchObject({ state: "pending", attempts: 0, cancelRequested: false, createdBy: "alice" });
    expect(operation.id).toMatch(/^op[a-z2-7]+$/);
    expect(operation.id.length).toBeLessThanOrEqual(50);

    const done = await engine.wait(operation.id, 10_000);
    expect(done).toMatchObject({ state: "done", response, attempts: 1 });
    expect(done!.error).toBeUndefined();
    expect(done!.leaseOwner).toBeUndefined();
    expect(seen).toEqual([{ imageId: "img9" }, operation.id, "running", false]);
    expect(finished).toHaveLength(1);
    expect(finished[0][0].id).toBe(operation.id);
    expect(await engine.get(operation.id)).toEqual(done);
    expect((await engine.list({ limit: 10 })).map((o) => o.id)).toEqual([operation.id]);
  });

  it("ends an operation whose handler throws with the encoded error", async () => {
    const engine = makeEngine(openStore());
    engine.register("test.notfound", async () => {
      throw new RegplaneError(Code.NOT_FOUND, "image gone");
    });
    engine.register("test.bug", async () => {
      throw new TypeError("boom");
    });
    engine.start();

    const a = await engine.submit(request({ kind: "test.notfound" }));
    const b = await engine.submit(request({ kind: "test.bug" }));
    expect(await engine.wait(a.operation.id, 10_000)).toMatchObject({
      state: "done",
      error: { code: Code.NOT_FOUND, message: "image gone" },
    });
    const failed = await engine.wait(b.operation.id, 10_000);
    expect(failed).toMatchObject({ state: "done", error: { code: Code.UNKNOWN, message: "TypeError: boom" } });
    expect(failed!.response).toBeUndefined();
  });

  it("ends an operation of an unknown kind with UNIMPLEMENTED", async () => {
    const engine = makeEngine(openStore());
    engine.start();
    const { operation } = await engine.submit(request({ kind: "test.nobody" }));
    const done = await engine.wait(operation.id, 10_000);
    expect(done).toMatchObject({ state: "done", error: { code: Code.UNIMPLEMENTED } });
    expect(done!.error!.message).toContain("test.nobody");
  });

  it("returns the first operation for a repeated idempotency key and runs it once", async () => {
    useTestClock();
    const engine = makeEngine(openStore());
    let runs = 0;
    engine.register("test.work", async () => {
      runs++;
      return EMPTY;
    });
    const key = { idempotency: { caller: "alice", key: "k1" } };
    const first = await engine.submit(request(), key);
    const second = await engine.submit(request(), key);
    expect(second).toMatchObject({ created: false, operation: { id: first.operation.id } });
    engine.start();
    await advanceUntil(engine.wait(first.operation.id, 10_000));
    // Several polls later, nothing ran it again.
    await vi.advanceTimersByTimeAsync(500);
    expect(runs).toBe(1);
  });

  describe("cancel", () => {
    it("ends a pending operation at once with CANCELLED and never runs it", async () => {
      useTestClock();
      const engine = makeEngine(openStore());
      let runs = 0;
      engine.register("test.work", async () => {
        runs++;
        return EMPTY;
      });
      const { operation } = await engine.submit(request());
      const cancelled = await engine.cancel(operation.id);
      expect(cancelled).toMatchObject({ state: "done", cancelRequested: true, error: { code: Code.CANCELLED } });
      expect(await settledNow(engine.wait(operation.id, 10_000))).toEqual(cancelled);

      engine.start();
      await vi.advanceTimersByTimeAsync(500);
      expect(runs).toBe(0);
      expect(await engine.get(operation.id)).toEqual(cancelled);
    });

    it("aborts a running handler, whose next checkCancelled throws", async () => {
      const engine = makeEngine(openStore());
      const started = gate();
      let providerSteps = 0;
      engine.register("test.work", async (_params, ctx) => {
        started.open();
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        await ctx.checkCancelled();
        providerSteps++;
        return EMPTY;
      });
      engine.start();
      const { operation } = await engine.submit(request());
      await started.promise;

      const marked = await engine.cancel(operation.id);
      expect(marked).toMatchObject({ state: "running", cancelRequested: true });
      const done = await engine.wait(operation.id, 10_000);
      expect(done).toMatchObject({ state: "done", cancelRequested: true, error: { code: Code.CANCELLED } });
      expect(providerSteps).toBe(0);
    });

    it("saves progress for a re-run, and refuses it once another worker took the lease", async () => {
      const store = openStore();
      const engine = makeEngine(store, { leaseMs: 600_000 });
      const proceed = gate();
      let refused: unknown;
      let abortedAfter: boolean | undefined;
      engine.register("test.work", async (_params, ctx) => {
        await ctx.progress({ metadata: any("t/progress", [1]), params: { step: 1 } });
        await proceed.promise;
        refused = await ctx.progress({ metadata: any("t/progress", [2]), params: { step: 2 } }).catch((err: unknown) => err);
        abortedAfter = ctx.signal.aborted;
        throw refused;
      });
      engine.start();
      const { operation } = await engine.submit(request());
      await until(async () => (await store.getOperation(operation.id))?.metadata.typeUrl === "t/progress");

      // Another worker claims it, as once this one's lease has expired: the re-run starts from the saved params.
      const reclaimed = await store.claimOperation("other", 1000, new Date(Date.now() + 700_000));
      expect(reclaimed).toMatchObject({ id: operation.id, params: { step: 1 }, metadata: any("t/progress", [1]) });
      proceed.open();
      await until(() => abortedAfter !== undefined);
      expect(refused).toMatchObject({ code: Code.ABORTED });
      expect(abortedAfter).toBe(true);
      expect(await store.getOperation(operation.id)).toMatchObject({ state: "running", leaseOwner: "other", params: { step: 1 } });
    });

    it("sees a cancel sent to another replica in checkCancelled", async () => {
      // A lease too long to be renewed during the test: only checkCancelled can notice.
      const engine = makeEngine(openStore(), { leaseMs: 600_000 });
      const started = gate();
      engine.register("test.work", async (_params, ctx) => {
        started.open();
        for (;;) {
          await ctx.checkCancelled();
          await later(20);
        }
      });
      engine.start();
      const { operation } = await engine.submit(request());
      await started.promise;

      const otherReplica = makeEngine(openStore());
      await otherReplica.cancel(operation.id);
      expect(await engine.wait(operation.id, 10_000)).toMatchObject({ state: "done", error: { code: Code.CANCELLED } });
    });

    it("aborts the signal when another replica cancels, via the lease renewal", async () => {
      useTestClock();
      const engine = makeEngine(openStore(), { leaseMs: 150 });
      const started = gate();
      engine.register("test.work", async (_params, ctx) => {
        started.open();
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        throw ctx.signal.reason;
      });
      engine.start();
      const { operation } = await engine.submit(request());
      await advanceUntil(started.promise);

      await makeEngine(openStore()).cancel(operation.id);
      expect(await advanceUntil(engine.wait(operation.id, 10_000))).toMatchObject({ state: "done", error: { code: Code.CANCELLED } });
    });

    it("keeps renewing the lease while a cancelled handler winds down", async () => {
      useTestClock();
      const leaseMs = 150;
      let runs = 0;
      // Winds down over four leases of test-clock time after the abort.
      const slowToStop: OperationHandler = async (_params, ctx) => {
        runs++;
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        await later(600);
        throw ctx.signal.reason;
      };
      const engine = makeEngine(openStore(), { leaseMs });
      const other = makeEngine(openStore(), { leaseMs });
      engine.register("test.work", slowToStop);
      other.register("test.work", slowToStop);
      engine.start();
      const { operation } = await engine.submit(request());
      await advanceUntilTrue(() => runs === 1);
      other.start();
      await engine.cancel(operation.id);
      const done = await advanceUntil(engine.wait(operation.id, 10_000));
      expect(done).toMatchObject({ state: "done", attempts: 1, error: { code: Code.CANCELLED } });
      expect(runs).toBe(1);
    });

    it("keeps the result of a handler that finishes despite the cancel (best effort)", async () => {
      const engine = makeEngine(openStore());
      const started = gate();
      const release = gate();
      engine.register("test.work", async () => {
        started.open();
        await release.promise;
        return EMPTY;
      });
      engine.start();
      const { operation } = await engine.submit(request());
      await started.promise;
      await engine.cancel(operation.id);
      release.open();
      const done = await engine.wait(operation.id, 10_000);
      expect(done).toMatchObject({ state: "done", cancelRequested: true, response: EMPTY });
      expect(done!.error).toBeUndefined();
    });

    it("leaves a finished operation unchanged, and reports an unknown one as undefined", async () => {
      const engine = makeEngine(openStore());
      engine.register("test.work", async () => EMPTY);
      engine.start();
      const { operation } = await engine.submit(request());
      const done = await engine.wait(operation.id, 10_000);
      expect(await engine.cancel(operation.id)).toEqual(done);
      expect(await engine.cancel("op-unknown")).toBeUndefined();
    });
  });

  describe("wait", () => {
    it("resolves as soon as the operation finishes in this process", async () => {
      useTestClock();
      const counted = countingStore(openStore());
      const engine = makeEngine(counted.store);
      const started = gate();
      const release = gate();
      engine.register("test.work", async () => {
        started.open();
        await release.promise;
        return EMPTY;
      });
      engine.start();
      const { operation } = await engine.submit(request());
      await advanceUntil(started.promise);

      const began = Date.now();
      const waiting = engine.wait(operation.id, 60_000);
      await vi.advanceTimersByTimeAsync(100);
      release.open();
      // Woken by the finish itself: no test-clock time passes between the finish and the answer.
      expect(await settledNow(waiting)).toMatchObject({ state: "done" });
      expect(Date.now() - began).toBe(100);
      // One read up front, no slow re-check while the handler ran.
      expect(counted.reads()).toBeLessThanOrEqual(2);
    });

    it("returns the current state when the timeout passes, reading the store slowly", async () => {
      useTestClock();
      const counted = countingStore(openStore());
      const engine = makeEngine(counted.store, { leaseMs: 600_000 });
      const release = gate();
      engine.register("test.work", async () => {
        await release.promise;
        return EMPTY;
      });
      engine.start();
      const { operation } = await engine.submit(request());
      await advanceUntilTrue(async () => (await engine.get(operation.id))?.state === "running");
      const readsBefore = counted.reads();

      const began = Date.now();
      const result = await advanceUntil(engine.wait(operation.id, 1_500));
      expect(Date.now() - began).toBeGreaterThanOrEqual(1_500);
      expect(Date.now() - began).toBeLessThan(1_510);
      expect(result).toMatchObject({ id: operation.id, state: "running" });
      // 1.5 s at one re-read per second or slower: the first read plus two re-reads at most.
      expect(counted.reads() - readsBefore).toBeLessThanOrEqual(3);
      release.open();
      await advanceUntil(engine.wait(operation.id, 10_000));
    });

    it("notices an operation finished by another replica", async () => {
      useTestClock();
      const waiter = makeEngine(openStore());
      const { operation } = await waiter.submit(request());

      const worker = makeEngine(openStore());
      worker.register("test.work", async () => EMPTY);
      worker.start();

      const began = Date.now();
      expect(await advanceUntil(waiter.wait(operation.id, 10_000))).toMatchObject({ state: "done", response: EMPTY });
      // Seen at a slow re-read (every second), well before the wait's own timeout.
      expect(Date.now() - began).toBeLessThanOrEqual(1_010);
    });

    it("resolves at once for a finished or unknown operation, and for a zero timeout", async () => {
      // The clock stands still: an answer that waited on any timer would never come.
      useTestClock();
      const store = openStore();
      const engine = makeEngine(store);
      expect(await settledNow(engine.wait("op-unknown", 10_000))).toBeUndefined();
      const { operation } = await engine.submit(request());
      expect(await settledNow(engine.wait(operation.id, 0))).toMatchObject({ state: "pending" });
      await engine.cancel(operation.id);
      expect(await settledNow(engine.wait(operation.id, 10_000))).toMatchObject({ state: "done" });
    });
  });

  describe("crash recovery", () => {
    it("runs an operation left running by a dead worker once its lease has expired", async () => {
      useTestClock();
      const store = openStore();
      const past = new Date(Date.now() - 60_000);
      await store.createOperation(
        newOp("op-orphan", {
          kind: "test.work",
          state: "running",
          leaseOwner: "dead-worker",
          leaseExpiresAt: past,
          attempts: 1,
          createdAt: past,
          modifiedAt: past,
        }),
      );
      let runs = 0;
      const engine = makeEngine(store);
      engine.register("test.work", async () => {
        runs++;
        return EMPTY;
      });
      engine.start();
      expect(await advanceUntil(engine.wait("op-orphan", 10_000))).toMatchObject({ state: "done", response: EMPTY, attempts: 2 });
      await vi.advanceTimersByTimeAsync(500);
      expect(runs).toBe(1);
    });

    it("finishes exactly once when a worker dies mid-handler and another takes over", async () => {
      const leaseMs = 300;
      const deadStore = openStore();
      // A dead worker's complaints about its closed store are expected, not test failures.
      const silent = { info() {}, warn() {}, error() {} };
      const dead = makeEngine(deadStore, { leaseMs, workerId: "dead", logger: silent });
      const started = gate();
      const never = gate<never>();
      dead.register("test.work", async () => {
        started.open();
        return never.promise;
      });
      dead.start();
      const { operation } = await dead.submit(request());
      await started.promise;
      // The process "dies": its store handle goes away, so its lease is no longer renewed.
      await deadStore.close();

      const finishes: string[] = [];
      const survivor = makeEngine(openStore(), { leaseMs, workerId: "survivor", onFinished: (op) => finishes.push(op.id) });
      const survivorResponse = any("t/survivor", [7]);
      survivor.register("test.work", async () => survivorResponse);
      survivor.start();

      const done = await survivor.wait(operation.id, 10_000);
      expect(done).toMatchObject({ state: "done", response: survivorResponse, attempts: 2 });
      expect(finishes).toEqual([operation.id]);
    });

    it("hands over on a graceful stop, and the stopped worker's late result is discarded", async () => {
      const first = makeEngine(openStore(), { workerId: "first" });
      const started = gate();
      const late = gate();
      first.register("test.work", async () => {
        started.open();
        await late.promise; // ignores the abort signal
        return any("t/late", []);
      });
      first.start();
      const { operation } = await first.submit(request());
      await started.promise;
      await first.stop(50);

      const second = makeEngine(openStore(), { workerId: "second" });
      second.register("test.work", async () => any("t/second", []));
      second.start();
      const done = await second.wait(operation.id, 10_000);
      expect(done).toMatchObject({ state: "done", response: { typeUrl: "t/second" }, attempts: 2 });

      late.open();
      await settledNow(late.promise);
      expect(await second.get(operation.id)).toEqual(done);
    });

    it("keeps the lease while a long handler runs, so no other worker takes it", async () => {
      // The handler outlives the lease several times over (in test-clock time); renewals, every third
      // of it, must keep it.
      useTestClock();
      const leaseMs = 600;
      let runs = 0;
      const slow: OperationHandler = async () => {
        runs++;
        await later(2_500);
        return EMPTY;
      };
      const a = makeEngine(openStore(), { leaseMs });
      const b = makeEngine(openStore(), { leaseMs });
      a.register("test.work", slow);
      b.register("test.work", slow);
      a.start();
      const { operation } = await a.submit(request());
      await advanceUntilTrue(() => runs === 1);
      b.start();
      expect(await advanceUntil(a.wait(operation.id, 10_000))).toMatchObject({ state: "done", attempts: 1 });
      expect(runs).toBe(1);
    });

    it("ends an orphaned operation whose cancel was requested without running it", async () => {
      const store = openStore();
      const past = new Date(Date.now() - 60_000);
      await store.createOperation(
        newOp("op-orphan", { kind: "test.work", state: "running", leaseOwner: "w", leaseExpiresAt: past, attempts: 1 }),
      );
      await store.requestCancel("op-orphan", cancelledStatus(), new Date());
      let runs = 0;
      const engine = makeEngine(store);
      engine.register("test.work", async () => {
        runs++;
        return EMPTY;
      });
      engine.start();
      expect(await engine.wait("op-orphan", 10_000)).toMatchObject({ state: "done", error: { code: Code.CANCELLED } });
      expect(runs).toBe(0);
    });

    it("gives up on an operation claimed too many times", async () => {
      const store = openStore();
      const past = new Date(Date.now() - 60_000);
      await store.createOperation(
        newOp("op-poison", { kind: "test.work", state: "running", leaseOwner: "w", leaseExpiresAt: past, attempts: 3 }),
      );
      let runs = 0;
      const engine = makeEngine(store, { maxAttempts: 3 });
      engine.register("test.work", async () => {
        runs++;
        return EMPTY;
      });
      engine.start();
      expect(await engine.wait("op-poison", 10_000)).toMatchObject({ state: "done", error: { code: Code.ABORTED } });
      expect(runs).toBe(0);
    });
  });

  it("runs at most `concurrency` handlers at once", async () => {
    const engine = makeEngine(openStore(), { concurrency: 3 });
    let active = 0;
    let maxActive = 0;
    // Each round of handlers is held until the test has seen it; then the next round is claimed.
    const held = new Gate();
    engine.register("test.work", async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await held.pass();
      active--;
      return EMPTY;
    });
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await engine.submit(request({ resourceId: `img${i}` }))).operation.id);
    engine.start();
    const waiting = Promise.all(ids.map((id) => engine.wait(id, 60_000)));
    for (let round = 1; round <= 4; round++) {
      await until(() => held.waiting === 3);
      expect(engine.runningCount).toBe(3);
      held.releaseHeld();
    }
    const results = await waiting;
    expect(results.every((op) => op?.state === "done")).toBe(true);
    expect(maxActive).toBe(3);
  });

  it("lets a running handler finish on stop within the grace period", async () => {
    const engine = makeEngine(openStore());
    const started = gate();
    const release = gate();
    engine.register("test.work", async () => {
      started.open();
      await release.promise;
      return EMPTY;
    });
    engine.start();
    const { operation } = await engine.submit(request());
    await started.promise;
    const stopping = engine.stop(60_000);
    release.open();
    await stopping;
    expect(await engine.get(operation.id)).toMatchObject({ state: "done", response: EMPTY });
  });

  it("purges finished operations older than the retention at start", async () => {
    const store = openStore();
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await store.createOperation(newOp("op-old", { state: "done", response: EMPTY, createdAt: old, modifiedAt: old }));
    const recent = new Date();
    await store.createOperation(newOp("op-recent", { state: "done", response: EMPTY, createdAt: recent, modifiedAt: recent }));
    await store.createOperation(newOp("op-old-pending", { kind: "test.unused", createdAt: old, modifiedAt: old }));
    const engine = makeEngine(store, { retentionMs: 60 * 60 * 1000 });
    engine.start();
    await until(async () => (await store.getOperation("op-old")) === undefined);
    expect(await store.getOperation("op-recent")).toBeDefined();
    expect(await store.getOperation("op-old-pending")).toBeDefined();
  });

  it("refuses a second handler for one kind", () => {
    const engine = makeEngine(openStore());
    engine.register("test.work", async () => EMPTY);
    expect(() => engine.register("test.work", async () => EMPTY)).toThrow(RegplaneError);
  });
});
