// Kept as one file: the contract is one suite every Store runs whole; split, an implementation could run part of it.
// The behaviour every Store implementation must have. Each implementation's test file calls
// describeStoreContract once; the embedded SQLite store and PostgreSQL run the same cases.

import { afterEach, describe, expect, it } from "vitest";
import type { AnyBytes, OperationRecord, StatusRecord, Store } from "../../src/core/store.js";
import { describeLifecycleStoreContract } from "./lifecycle-store-contract.js";

/**
 * `makeStore` opens one more handle (connection) on the current test's database; a test calls it
 * more than once to play several replicas or to reopen after close. Each test starts with an empty
 * database. `cleanup` runs after each test, once every handle is closed, and discards that database.
 */
export function describeStoreContract(
  name: string,
  makeStore: () => Promise<Store>,
  cleanup: () => Promise<void>,
): void {
  describe(`Store contract: ${name}`, () => {
    const opened: Store[] = [];

    async function open(): Promise<Store> {
      const store = await makeStore();
      opened.push(store);
      return store;
    }

    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
      await cleanup();
    });

    describeLifecycleStoreContract(open);

    describe("image ids", () => {
      it("records, resolves and overwrites", async () => {
        const store = await open();
        expect(await store.resolveImageId("img1")).toBeUndefined();
        await store.recordImageIds([]);
        await store.recordImageIds([
          { id: "img1", registryId: "local", repository: "team/app", digest: "sha256:aa" },
          { id: "img2", registryId: "lab", repository: "app", digest: "sha256:bb" },
        ]);
        expect(await store.resolveImageId("img1")).toEqual({
          registryId: "local",
          repository: "team/app",
          digest: "sha256:aa",
        });
        await store.recordImageIds([{ id: "img1", registryId: "local", repository: "team/app2", digest: "sha256:cc" }]);
        expect(await store.resolveImageId("img1")).toEqual({
          registryId: "local",
          repository: "team/app2",
          digest: "sha256:cc",
        });
        expect(await store.resolveImageId("img2")).toMatchObject({ registryId: "lab" });
      });
    });

    describe("repository ids", () => {
      it("records, resolves and overwrites, apart from image ids", async () => {
        const store = await open();
        expect(await store.resolveRepositoryId("rep1")).toBeUndefined();
        await store.recordRepositoryIds([]);
        await store.recordRepositoryIds([
          { id: "rep1", registryId: "local", repository: "team/app" },
          { id: "rep2", registryId: "lab", repository: "app" },
          { id: "rep2", registryId: "lab", repository: "app" },
        ]);
        expect(await store.resolveRepositoryId("rep1")).toEqual({ registryId: "local", repository: "team/app" });
        await store.recordRepositoryIds([{ id: "rep1", registryId: "local", repository: "team/app2" }]);
        expect(await store.resolveRepositoryId("rep1")).toEqual({ registryId: "local", repository: "team/app2" });
        expect(await store.resolveRepositoryId("rep2")).toEqual({ registryId: "lab", repository: "app" });
        expect(await store.resolveImageId("rep1")).toBeUndefined();
      });
    });

    describe("page states", () => {
      it("stores bytes under a handle until they expire", async () => {
        const store = await open();
        const state = new Uint8Array([0, 1, 2, 255, 254]);
        await store.putPageState("h1", state, new Date(Date.now() + 60_000));
        expect(await store.getPageState("h1")).toEqual(state);
        expect(await store.getPageState("missing")).toBeUndefined();

        await store.putPageState("h1", new Uint8Array([9]), new Date(Date.now() + 60_000));
        expect(await store.getPageState("h1")).toEqual(new Uint8Array([9]));

        await store.putPageState("old", new Uint8Array([1]), new Date(Date.now() - 1));
        expect(await store.getPageState("old")).toBeUndefined();
        // Reading an expired handle again still finds nothing (it may have been purged).
        expect(await store.getPageState("old")).toBeUndefined();
      });
    });

    describe("settings", () => {
      it("initSetting sets once and returns the value in force", async () => {
        const store = await open();
        expect(await store.getSetting("key")).toBeUndefined();
        expect(await store.initSetting("key", "first")).toBe("first");
        expect(await store.initSetting("key", "second")).toBe("first");
        expect(await store.getSetting("key")).toBe("first");
      });

      it("parallel initSetting calls on two handles agree on one value", async () => {
        const [a, b] = [await open(), await open()];
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).initSetting("signing-key", `value-${i}`)),
        );
        expect(new Set(results).size).toBe(1);
        expect(await a.getSetting("signing-key")).toBe(results[0]);
      });
    });

    describe("operations", () => {
      it("round-trips every field", async () => {
        const store = await open();
        const op = newOp("op-full", {
          params: { imageId: "img1", nested: { list: [1, "two", null] } },
          metadata: any("type.googleapis.com/regplane.v1.DeleteImageMetadata", [1, 2, 3]),
          error: status(5, "gone", [any("type.googleapis.com/google.rpc.ErrorInfo", [0, 255])]),
          response: any("type.googleapis.com/google.protobuf.Empty", []),
          state: "done",
          attempts: 3,
          cancelRequested: true,
        });
        const { operation, created } = await store.createOperation(op);
        expect(created).toBe(true);
        expect(operation).toEqual(op);
        expect(await store.getOperation("op-full")).toEqual(op);
        expect(await store.getOperation("nope")).toBeUndefined();

        const leased = newOp("op-leased", { state: "running", leaseOwner: "w1", leaseExpiresAt: at(99), attempts: 1 });
        await store.createOperation(leased);
        expect(await store.getOperation("op-leased")).toEqual(leased);
      });

      it("rejects a second operation with the same id", async () => {
        const store = await open();
        await store.createOperation(newOp("dup"));
        await expect(store.createOperation(newOp("dup"))).rejects.toThrow();
      });

      describe("idempotency", () => {
        it("returns the first operation for the same caller and key, even once finished", async () => {
          const store = await open();
          const key = { caller: "alice", key: "k1" };
          const first = await store.createOperation(newOp("a"), { idempotency: key });
          expect(first.created).toBe(true);
          const again = await store.createOperation(newOp("b"), { idempotency: key });
          expect(again).toMatchObject({ created: false, operation: { id: "a" } });
          expect(await store.getOperation("b")).toBeUndefined();

          await store.finishOperation("a", undefined, { response: any("t/x", [1]) }, at(5));
          const afterFinish = await store.createOperation(newOp("c"), { idempotency: key });
          expect(afterFinish).toMatchObject({ created: false, operation: { id: "a", state: "done" } });

          const otherCaller = await store.createOperation(newOp("d"), { idempotency: { caller: "bob", key: "k1" } });
          expect(otherCaller).toMatchObject({ created: true, operation: { id: "d" } });
          const otherKey = await store.createOperation(newOp("e"), { idempotency: { caller: "alice", key: "k2" } });
          expect(otherKey).toMatchObject({ created: true, operation: { id: "e" } });
        });

        it("creates exactly one operation when many requests race with one key", async () => {
          const [a, b] = [await open(), await open()];
          const results = await Promise.all(
            Array.from({ length: 30 }, (_, i) =>
              (i % 2 ? a : b).createOperation(newOp(`race-${i}`), { idempotency: { caller: "alice", key: "same" } }),
            ),
          );
          expect(results.filter((r) => r.created)).toHaveLength(1);
          expect(new Set(results.map((r) => r.operation.id)).size).toBe(1);
          expect((await a.countOperations()).pending).toBe(1);
        });
      });

      describe("dedupe", () => {
        it("returns the unfinished operation with the same key, and frees the key when it finishes", async () => {
          const store = await open();
          const first = await store.createOperation(newOp("a"), { dedupeKey: "image.delete:img1" });
          expect(first.created).toBe(true);
          const again = await store.createOperation(newOp("b"), { dedupeKey: "image.delete:img1" });
          expect(again).toMatchObject({ created: false, operation: { id: "a" } });
          const other = await store.createOperation(newOp("c"), { dedupeKey: "image.delete:img2" });
          expect(other.created).toBe(true);

          // Still deduplicated while running.
          await store.claimOperation("w1", 10_000, at(1));
          expect(await store.createOperation(newOp("d"), { dedupeKey: "image.delete:img1" })).toMatchObject({
            created: false,
            operation: { id: "a", state: "running" },
          });

          await store.finishOperation("a", "w1", { response: any("t/x", []) }, at(2));
          const fresh = await store.createOperation(newOp("e"), { dedupeKey: "image.delete:img1" });
          expect(fresh).toMatchObject({ created: true, operation: { id: "e" } });
        });

        it("a cancelled pending operation frees its key", async () => {
          const store = await open();
          await store.createOperation(newOp("a"), { dedupeKey: "k" });
          await store.requestCancel("a", status(1, "cancelled"), at(1));
          expect(await store.createOperation(newOp("b"), { dedupeKey: "k" })).toMatchObject({ created: true });
        });

        it("records the idempotency key against the deduplicated operation", async () => {
          const store = await open();
          await store.createOperation(newOp("a"), { dedupeKey: "k" });
          const hit = await store.createOperation(newOp("b"), {
            dedupeKey: "k",
            idempotency: { caller: "alice", key: "retry-me" },
          });
          expect(hit).toMatchObject({ created: false, operation: { id: "a" } });
          await store.finishOperation("a", undefined, { response: any("t/x", []) }, at(2));
          // The retry gets the same operation even though the dedupe key is free again.
          const retry = await store.createOperation(newOp("c"), {
            dedupeKey: "k",
            idempotency: { caller: "alice", key: "retry-me" },
          });
          expect(retry).toMatchObject({ created: false, operation: { id: "a" } });
        });

        it("creates exactly one operation when many requests race with one key", async () => {
          const [a, b] = [await open(), await open()];
          const results = await Promise.all(
            Array.from({ length: 30 }, (_, i) =>
              (i % 2 ? a : b).createOperation(newOp(`race-${i}`), { dedupeKey: "image.delete:img1" }),
            ),
          );
          expect(results.filter((r) => r.created)).toHaveLength(1);
          expect(new Set(results.map((r) => r.operation.id)).size).toBe(1);
        });
      });

      describe("listOperations", () => {
        it("lists newest first, filters, and pages with a keyset", async () => {
          const store = await open();
          for (let i = 0; i < 10; i++) {
            await store.createOperation(
              newOp(`op-${i}`, { createdAt: at(i < 5 ? 100 : 100 + i), resourceId: i % 2 ? "odd" : "even" }),
            );
          }
          await store.finishOperation("op-3", undefined, { response: any("t/x", []) }, at(200));

          const all = await store.listOperations({ limit: 100 });
          // op-0..op-4 share a createdAt, so the id breaks the tie.
          expect(all.map((o) => o.id)).toEqual([
            "op-9", "op-8", "op-7", "op-6", "op-5", "op-4", "op-3", "op-2", "op-1", "op-0",
          ]);

          const paged: string[] = [];
          let before: { createdAt: Date; id: string } | undefined;
          for (;;) {
            const page = await store.listOperations({ limit: 3, before });
            paged.push(...page.map((o) => o.id));
            if (page.length < 3) break;
            const last = page[page.length - 1];
            before = { createdAt: last.createdAt, id: last.id };
          }
          expect(paged).toEqual(all.map((o) => o.id));

          expect((await store.listOperations({ limit: 100, resourceId: "odd" })).map((o) => o.id)).toEqual([
            "op-9", "op-7", "op-5", "op-3", "op-1",
          ]);
          expect((await store.listOperations({ limit: 100, done: true })).map((o) => o.id)).toEqual(["op-3"]);
          expect(await store.listOperations({ limit: 100, done: false })).toHaveLength(9);
          expect(
            (await store.listOperations({ limit: 2, resourceId: "odd", done: false, before: { createdAt: at(107), id: "op-7" } })).map(
              (o) => o.id,
            ),
          ).toEqual(["op-5", "op-1"]);
          expect(await store.listOperations({ limit: 0 })).toEqual([]);
        });

        it("keeps to what a caller may see: its registries, and its own operations on no registry", async () => {
          const store = await open();
          const owners: Array<[string, string]> = [["a", "alice"], ["b", "alice"], ["", "alice"], ["", "bob"], ["a", "bob"], ["gone", "alice"]];
          for (let i = 0; i < 30; i++) {
            const [registryId, createdBy] = owners[i % owners.length];
            await store.createOperation(newOp(`op-${String(i).padStart(2, "0")}`, { createdAt: at(100 + i), registryId, createdBy }));
          }
          const visibleTo = { registryIds: ["a", "b"], principal: "alice" };
          const expected = Array.from({ length: 30 }, (_, i) => i)
            .filter((i) => { const [r, by] = owners[i % owners.length]; return r === "a" || r === "b" || (r === "" && by === "alice"); })
            .reverse()
            .map((i) => `op-${String(i).padStart(2, "0")}`);
          expect((await store.listOperations({ limit: 100, visibleTo })).map((o) => o.id)).toEqual(expected);
          // Pages stay full across the operations skipped.
          const paged: string[] = [];
          let before: { createdAt: Date; id: string } | undefined;
          for (;;) {
            const page = await store.listOperations({ limit: 4, visibleTo, before });
            paged.push(...page.map((o) => o.id));
            if (page.length < 4) break;
            before = { createdAt: page[3].createdAt, id: page[3].id };
          }
          expect(paged).toEqual(expected);
          expect(await store.listOperations({ limit: 100, visibleTo: { registryIds: [], principal: "carol" } })).toEqual([]);
        });
      });

      describe("claims and leases", () => {
        it("claims the oldest pending operation and takes the lease", async () => {
          const store = await open();
          expect(await store.claimOperation("w1", 1000, at(10))).toBeUndefined();
          await store.createOperation(newOp("newer", { createdAt: at(2) }));
          await store.createOperation(newOp("older", { createdAt: at(1) }));

          const claimed = await store.claimOperation("w1", 1000, at(10));
          expect(claimed).toMatchObject({
            id: "older",
            state: "running",
            leaseOwner: "w1",
            leaseExpiresAt: at(10 + 1000),
            attempts: 1,
          });
          expect(await store.getOperation("older")).toMatchObject({ state: "running", leaseOwner: "w1", attempts: 1 });
          expect(await store.claimOperation("w2", 1000, at(11))).toMatchObject({ id: "newer", leaseOwner: "w2" });
          // Both leases are live: nothing left to claim.
          expect(await store.claimOperation("w3", 1000, at(12))).toBeUndefined();
        });

        it("reclaims a running operation once its lease has expired", async () => {
          const store = await open();
          await store.createOperation(newOp("a"));
          await store.claimOperation("w1", 1000, at(0));
          expect(await store.claimOperation("w2", 1000, at(1000))).toBeUndefined(); // expiry is exclusive
          const reclaimed = await store.claimOperation("w2", 1000, at(1001));
          expect(reclaimed).toMatchObject({ id: "a", leaseOwner: "w2", attempts: 2, leaseExpiresAt: at(2001) });
        });

        it("prefers the oldest of pending and expired-running", async () => {
          const store = await open();
          await store.createOperation(newOp("old-running", { createdAt: at(1) }));
          await store.claimOperation("w1", 10, at(1));
          await store.createOperation(newOp("pending", { createdAt: at(2) }));
          expect(await store.claimOperation("w2", 10, at(100))).toMatchObject({ id: "old-running" });
          expect(await store.claimOperation("w2", 10, at(100))).toMatchObject({ id: "pending" });
        });

        it("renews only the holder's lease", async () => {
          const store = await open();
          await store.createOperation(newOp("a"));
          await store.claimOperation("w1", 1000, at(0));
          expect(await store.renewLease("a", "w1", 1000, at(500))).toBe(true);
          expect(await store.getOperation("a")).toMatchObject({ leaseExpiresAt: at(1500) });
          expect(await store.renewLease("a", "w2", 1000, at(500))).toBe(false);
          expect(await store.claimOperation("w2", 1000, at(1200))).toBeUndefined();

          expect(await store.claimOperation("w2", 1000, at(1501))).toMatchObject({ leaseOwner: "w2" });
          expect(await store.renewLease("a", "w1", 1000, at(1600))).toBe(false);
          expect(await store.renewLease("missing", "w1", 1000, at(1600))).toBe(false);

          await store.finishOperation("a", "w2", { response: any("t/x", []) }, at(1700));
          expect(await store.renewLease("a", "w2", 1000, at(1800))).toBe(false);
        });

        it("saves progress only for the lease holder of a running operation", async () => {
          const store = await open();
          await store.createOperation(newOp("a"));
          const progress = { metadata: any("t/progress", [1, 2]), params: { items: ["x"], settled: { x: 1 } } };
          expect(await store.saveProgress("a", "w1", progress, at(5))).toBe(false); // still pending
          await store.claimOperation("w1", 10, at(0));
          expect(await store.saveProgress("a", "w1", progress, at(5))).toBe(true);
          expect(await store.getOperation("a")).toMatchObject({ ...progress, state: "running", modifiedAt: at(5) });

          await store.claimOperation("w2", 10, at(100));
          const stale = { metadata: any("t/stale", []), params: { stale: true } };
          expect(await store.saveProgress("a", "w1", stale, at(101))).toBe(false);
          expect(await store.getOperation("a")).toMatchObject({ ...progress, leaseOwner: "w2" });
          await store.finishOperation("a", "w2", { response: any("t/ok", []) }, at(102));
          expect(await store.saveProgress("a", "w2", stale, at(103))).toBe(false);
          expect(await store.getOperation("a")).toMatchObject({ ...progress, state: "done" });
        });

        it("never gives one operation to two workers racing on two handles", async () => {
          const [a, b] = [await open(), await open()];
          for (let i = 0; i < 20; i++) await a.createOperation(newOp(`op-${String(i).padStart(2, "0")}`, { createdAt: at(i) }));
          const claims = await Promise.all(
            Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).claimOperation(`w${i}`, 60_000, at(100))),
          );
          const ids = claims.filter((c) => c !== undefined).map((c) => c!.id);
          expect(ids).toHaveLength(20);
          expect(new Set(ids).size).toBe(20);
          expect(await a.countOperations()).toEqual({ pending: 0, running: 20, done: 0 });
        });
      });

      describe("finishOperation", () => {
        it("ends a claimed operation for the lease holder and clears the lease", async () => {
          const store = await open();
          await store.createOperation(newOp("a"));
          await store.claimOperation("w1", 1000, at(0));
          const response = any("type.googleapis.com/google.protobuf.Empty", [7]);
          const done = await store.finishOperation("a", "w1", { response }, at(50));
          expect(done).toMatchObject({ id: "a", state: "done", response, modifiedAt: at(50) });
          expect(done!.leaseOwner).toBeUndefined();
          expect(done!.leaseExpiresAt).toBeUndefined();
          expect(done!.error).toBeUndefined();
          expect(await store.getOperation("a")).toEqual(done);
          // A second finish does nothing.
          expect(await store.finishOperation("a", "w1", { error: status(2, "late") }, at(60))).toBeUndefined();
          expect(await store.getOperation("a")).toMatchObject({ response });
        });

        it("stores an error result", async () => {
          const store = await open();
          await store.createOperation(newOp("a"));
          await store.claimOperation("w1", 1000, at(0));
          const error = status(14, "registry unreachable", [any("type.googleapis.com/google.rpc.RetryInfo", [1, 2])]);
          const done = await store.finishOperation("a", "w1", { error }, at(1));
          expect(done).toMatchObject({ state: "done", error });
          expect(done!.response).toBeUndefined();
        });

        it("lets a finish still succeed after the lease expired if nobody reclaimed it", async () => {
          const store = await open();
          await store.createOperation(newOp("a"));
          await store.claimOperation("w1", 10, at(0));
          expect(await store.finishOperation("a", "w1", { response: any("t/x", []) }, at(1000))).toMatchObject({
            state: "done",
          });
        });

        it("rejects a stale worker's finish after another worker reclaimed the operation", async () => {
          const store = await open();
          await store.createOperation(newOp("a"));
          await store.claimOperation("w1", 10, at(0));
          await store.claimOperation("w2", 10, at(100));
          expect(await store.finishOperation("a", "w1", { error: status(2, "stale") }, at(101))).toBeUndefined();
          expect(await store.getOperation("a")).toMatchObject({ state: "running", leaseOwner: "w2" });
          const done = await store.finishOperation("a", "w2", { response: any("t/ok", []) }, at(102));
          expect(done).toMatchObject({ state: "done", response: { typeUrl: "t/ok" } });
          expect(await store.finishOperation("a", "w1", { error: status(2, "stale") }, at(103))).toBeUndefined();
          expect((await store.getOperation("a"))!.error).toBeUndefined();
        });

        it("without a worker, ends only a pending operation", async () => {
          const store = await open();
          await store.createOperation(newOp("p"));
          await store.createOperation(newOp("r", { createdAt: at(1) }));
          await store.claimOperation("w1", 1000, at(0)); // takes "p", the older one
          expect(await store.finishOperation("p", undefined, { response: any("t/x", []) }, at(5))).toBeUndefined();
          expect(await store.finishOperation("r", undefined, { error: status(9, "no") }, at(5))).toMatchObject({
            id: "r",
            state: "done",
            error: { code: 9 },
          });
          expect(await store.finishOperation("missing", undefined, {}, at(5))).toBeUndefined();
        });
      });

      describe("requestCancel", () => {
        const cancelled = status(1, "operation cancelled");

        it("ends a pending operation at once with the given error", async () => {
          const store = await open();
          await store.createOperation(newOp("a"));
          const op = await store.requestCancel("a", cancelled, at(9));
          expect(op).toMatchObject({ state: "done", error: cancelled, cancelRequested: true, modifiedAt: at(9) });
          expect(await store.claimOperation("w1", 1000, at(10))).toBeUndefined();
        });

        it("marks a running operation and leaves it to its worker", async () => {
          const store = await open();
          await store.createOperation(newOp("a"));
          await store.claimOperation("w1", 1000, at(0));
          const op = await store.requestCancel("a", cancelled, at(9));
          expect(op).toMatchObject({ state: "running", cancelRequested: true, leaseOwner: "w1" });
          expect(op!.error).toBeUndefined();
          expect(await store.renewLease("a", "w1", 1000, at(10))).toBe(true);
          expect(await store.finishOperation("a", "w1", { error: cancelled }, at(11))).toMatchObject({ state: "done" });
        });

        it("leaves a finished operation unchanged", async () => {
          const store = await open();
          await store.createOperation(newOp("a"));
          const done = await store.finishOperation("a", undefined, { response: any("t/x", [1]) }, at(3));
          expect(await store.requestCancel("a", cancelled, at(9))).toEqual(done);
          expect(await store.requestCancel("missing", cancelled, at(9))).toBeUndefined();
        });
      });

      describe("purgeFinished and countOperations", () => {
        it("deletes finished operations modified before the cutoff, with their idempotency keys", async () => {
          const store = await open();
          expect(await store.countOperations()).toEqual({ pending: 0, running: 0, done: 0 });
          await store.createOperation(newOp("old-done"), { idempotency: { caller: "alice", key: "k" } });
          await store.finishOperation("old-done", undefined, { response: any("t/x", []) }, at(100));
          await store.createOperation(newOp("new-done"));
          await store.finishOperation("new-done", undefined, { response: any("t/x", []) }, at(300));
          await store.createOperation(newOp("old-pending", { modifiedAt: at(0) }));
          await store.createOperation(newOp("old-running", { modifiedAt: at(0) }));
          await store.claimOperation("w1", 1000, at(0)); // takes old-pending or old-running
          expect(await store.countOperations()).toEqual({ pending: 1, running: 1, done: 2 });

          expect(await store.purgeFinished(at(200))).toBe(1);
          expect(await store.getOperation("old-done")).toBeUndefined();
          expect(await store.getOperation("new-done")).toBeDefined();
          expect(await store.countOperations()).toEqual({ pending: 1, running: 1, done: 1 });
          // The idempotency key went with its operation.
          const again = await store.createOperation(newOp("fresh"), { idempotency: { caller: "alice", key: "k" } });
          expect(again).toMatchObject({ created: true, operation: { id: "fresh" } });
          expect(await store.purgeFinished(at(200))).toBe(0);
        });
      });
    });

    describe("persistence", () => {
      it("keeps everything across close and reopen", async () => {
        const first = await open();
        await first.recordImageIds([{ id: "img1", registryId: "local", repository: "app", digest: "sha256:aa" }]);
        await first.recordRepositoryIds([{ id: "rep1", registryId: "local", repository: "app" }]);
        await first.putPageState("h", new Uint8Array([4, 2]), new Date(Date.now() + 60_000));
        await first.initSetting("k", "v");
        const op = newOp("a", { params: { x: 1 } });
        await first.createOperation(op, { idempotency: { caller: "c", key: "k" }, dedupeKey: "d" });
        await first.createOperation(newOp("b", { createdAt: at(1) }));
        await first.claimOperation("w1", 1000, at(5));
        await first.close();

        const second = await open();
        expect(await second.resolveImageId("img1")).toEqual({ registryId: "local", repository: "app", digest: "sha256:aa" });
        expect(await second.resolveRepositoryId("rep1")).toEqual({ registryId: "local", repository: "app" });
        expect(await second.getPageState("h")).toEqual(new Uint8Array([4, 2]));
        expect(await second.getSetting("k")).toBe("v");
        expect(await second.getOperation("a")).toMatchObject({ state: "running", leaseOwner: "w1", params: { x: 1 } });
        expect(await second.getOperation("b")).toEqual(newOp("b", { createdAt: at(1) }));
        expect(await second.createOperation(newOp("z"), { idempotency: { caller: "c", key: "k" } })).toMatchObject({
          created: false,
          operation: { id: "a" },
        });
        expect(await second.createOperation(newOp("y"), { dedupeKey: "d" })).toMatchObject({
          created: false,
          operation: { id: "a" },
        });
        // The lease written before the restart still counts.
        expect(await second.claimOperation("w2", 1000, at(6))).toMatchObject({ id: "b" });
        expect(await second.claimOperation("w2", 1000, at(1006))).toMatchObject({ id: "a", attempts: 2 });
      });
    });
  });
}

const T0 = 1_700_000_000_000;

/** A fixed instant `ms` after an arbitrary epoch, so tests never depend on the clock. */
export function at(ms: number): Date {
  return new Date(T0 + ms);
}

export function any(typeUrl: string, value: number[]): AnyBytes {
  return { typeUrl, value: new Uint8Array(value) };
}

export function status(code: number, message: string, details: AnyBytes[] = []): StatusRecord {
  return { code, message, details };
}

export function newOp(id: string, overrides: Partial<OperationRecord> = {}): OperationRecord {
  const createdAt = overrides.createdAt ?? at(0);
  return {
    id,
    kind: "image.delete",
    resourceId: "img1",
    registryId: "local",
    description: "Delete image",
    createdAt,
    createdBy: "alice",
    modifiedAt: createdAt,
    state: "pending",
    metadata: any("type.googleapis.com/regplane.v1.DeleteImageMetadata", [10, 4, 105, 109, 103, 49]),
    params: { imageId: "img1" },
    attempts: 0,
    cancelRequested: false,
    ...overrides,
  };
}
