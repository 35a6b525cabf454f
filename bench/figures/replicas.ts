// Figure 7: several replicas on one PostgreSQL. 1,000 deletes through the PostgreSQL store against the
// SQLite store, Wait woken across replicas by LISTEN/NOTIFY, and the id-index cost on the List path.
import * as path from "node:path";
import type { Operation } from "../../src/gen/regplane/v1/operation_pb.js";
import { openSqliteStore } from "../../src/store/sqlite.js";
import { imageId } from "../../src/core/ids.js";
import { WeightedLru } from "../../src/core/lru.js";
import type { ImageRef } from "../../src/core/store.js";
import { startPostgres, type PostgresServer } from "../../test/support/postgres.js";
import { writeCatalog, type CatalogSpec } from "../lib/catalog.js";
import type { BenchContext, Figure, FigureOutcome } from "../lib/figure.js";
import { startRegplane, type RegplaneProcess } from "../lib/process.js";
import { measured } from "../lib/results.js";
import { imageClient, operationClient, walkList } from "../lib/rpc-clients.js";
import { mapLimited, percentile } from "../lib/stats.js";

const CALL_CONCURRENCY = 16;

async function waitDone(operations: ReturnType<typeof operationClient>, op: Operation): Promise<Operation> {
  let current = op;
  while (!current.done) current = (await operations.call("wait", { operationId: op.id, timeout: { seconds: 60n } }, { deadlineMs: 70_000 })) as Operation;
  return current;
}

/** Lists every image, deletes all through operations, waits for all; operations per second. */
async function deleteAll(regplane: RegplaneProcess, count: number): Promise<number> {
  const images = imageClient(regplane.grpcAddress);
  const operations = operationClient(regplane.grpcAddress);
  try {
    const ids: string[] = [];
    await walkList(images, { registryId: "local" }, 1000, { onPage: (p) => ids.push(...p.images.map((i) => i.id)) });
    if (ids.length !== count) throw new Error(`listed ${ids.length} images, wrote ${count}`);
    const started = performance.now();
    const submitted = await mapLimited(ids, CALL_CONCURRENCY, async (id) => (await images.call("delete", { imageId: id })) as Operation);
    const finished = await mapLimited(submitted, 64, (op) => waitDone(operations, op));
    const elapsed = performance.now() - started;
    const failed = finished.filter((op) => op.result.case !== "response");
    if (failed.length > 0) throw new Error(`${failed.length} delete operations did not succeed`);
    return count / (elapsed / 1000);
  } finally {
    images.close();
    operations.close();
  }
}

/** Milliseconds from an operation finishing (its modifiedAt, same host clock) to Wait on another replica returning. */
async function wakeLatencies(a: RegplaneProcess, b: RegplaneProcess, samples: number): Promise<number[]> {
  const imagesA = imageClient(a.grpcAddress);
  const opsB = operationClient(b.grpcAddress);
  const out: number[] = [];
  try {
    const ids: string[] = [];
    await walkList(imagesA, { registryId: "local" }, 1000, { onPage: (p) => ids.push(...p.images.map((i) => i.id)) });
    for (const id of ids.slice(0, samples)) {
      const op = (await imagesA.call("delete", { imageId: id })) as Operation;
      const done = await waitDone(opsB, op);
      const returned = Date.now();
      const finishedAt = Number(done.modifiedAt!.seconds) * 1000 + Math.floor(done.modifiedAt!.nanos / 1e6);
      out.push(Math.max(0, returned - finishedAt));
    }
  } finally {
    imagesA.close();
    opsB.close();
  }
  return out;
}

/** Pages per second of the store part of List: today's upsert of every page against writing only unseen ids. */
async function idIndexPagesPerSecond(dir: string, pages: number): Promise<{ before: number; after: number }> {
  const page = (p: number) =>
    Array.from({ length: 100 }, (_, i) => {
      const ref = { registryId: "local", repository: `ns/repo${p}`, digest: `sha256:${(p * 100 + i).toString(16).padStart(64, "0")}` };
      return { id: imageId(ref.registryId, ref.repository, ref.digest), ...ref };
    });
  const walk = Array.from({ length: pages }, (_, p) => page(p % 20));
  const before = openSqliteStore(path.join(dir, "before.db"));
  let t = performance.now();
  for (const entries of walk) await before.recordImageIds(entries);
  const beforeRate = pages / ((performance.now() - t) / 1000);
  await before.close();
  const after = openSqliteStore(path.join(dir, "after.db"));
  const known = new WeightedLru<string, ImageRef>(100_000);
  t = performance.now();
  for (const entries of walk) {
    const fresh = entries.filter((e) => known.get(e.id) === undefined);
    if (fresh.length > 0) await after.recordImageIds(fresh);
    for (const e of fresh) known.set(e.id, e, 1);
  }
  const afterRate = pages / ((performance.now() - t) / 1000);
  await after.close();
  return { before: beforeRate, after: afterRate };
}

export const replicasFigure: Figure = {
  name: "replicas",
  title: "Replicas: the PostgreSQL store against SQLite, Wait across replicas, the id index on List",
  async run(ctx: BenchContext): Promise<FigureOutcome> {
    const spec = (seed: string): CatalogSpec =>
      ctx.quick
        ? { seed, namespaces: 1, repositoriesPerNamespace: 20, imagesPerRepository: 5 }
        : { seed, namespaces: 2, repositoriesPerNamespace: 100, imagesPerRepository: 5 };
    const samples = ctx.quick ? 20 : 200;
    let pg: PostgresServer | undefined;
    const started: RegplaneProcess[] = [];
    try {
      const sqliteDir = path.join(ctx.workDir, "sqlite");
      const count = writeCatalog(path.join(sqliteDir, "registry"), spec("replicas-sqlite")).length;
      const sqlite = await startRegplane({ dataDir: sqliteDir });
      started.push(sqlite);
      const sqliteRate = await deleteAll(sqlite, count);
      await sqlite.stop();
      ctx.log(`SQLite store: ${count} deletes at ${sqliteRate.toFixed(0)} ops/s`);

      pg = await startPostgres();
      const config = `state:\n  driver: postgres\n  url: ${await pg.createDatabase()}\n`;
      const pgDir = path.join(ctx.workDir, "pg");
      writeCatalog(path.join(pgDir, "registry"), spec("replicas-pg"));
      const a = await startRegplane({ dataDir: pgDir, config });
      started.push(a);
      const pgRate = await deleteAll(a, count);
      ctx.log(`PostgreSQL store: ${count} deletes at ${pgRate.toFixed(0)} ops/s`);

      const wakeDir = path.join(ctx.workDir, "wake");
      writeCatalog(path.join(wakeDir, "registry"), { ...spec("replicas-wake"), repositoriesPerNamespace: Math.ceil(samples / 5) });
      const wakeConfig = `state:\n  driver: postgres\n  url: ${await pg.createDatabase()}\n`;
      const wa = await startRegplane({ dataDir: wakeDir, config: wakeConfig });
      started.push(wa);
      const wb = await startRegplane({ dataDir: wakeDir, config: wakeConfig });
      started.push(wb);
      const latencies = await wakeLatencies(wa, wb, samples);
      ctx.log(`Wait on another replica: p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms over ${latencies.length}`);

      const idIndex = await idIndexPagesPerSecond(ctx.workDir, ctx.quick ? 400 : 4000);
      ctx.log(`id index on List: ${idIndex.before.toFixed(0)} pages/s writing every page, ${idIndex.after.toFixed(0)} pages/s writing unseen ids only`);

      return {
        rows: [
          measured("replicas.pg_deletes_per_s", "ops/s", pgRate, sqliteRate, { on: "ratio", op: ">=", target: 0.7 }, `${count} deletes through the PostgreSQL store; baseline: the same through the SQLite store`),
          measured("replicas.wait_wake_p99", "ms", percentile(latencies, 99), percentile(latencies, 50), undefined, "Wait on replica B for a delete submitted on A, from the operation's finish time to Wait returning; baseline: p50"),
          measured("replicas.list_id_index_pages_per_s", "pages/s", idIndex.after, idIndex.before, undefined, "store part of List (100 ids a page, pages repeated): writing only ids not seen yet; baseline: upserting every page (an fsync each)"),
        ],
        method: [
          `${count} images written fresh for each store; regplane (dist/main.js) lists them and deletes all through operations, ${CALL_CONCURRENCY} Delete calls in flight, then Waits on each; ops/s from first call to last done. PostgreSQL 15 runs locally (fsync off, as test clusters are), the SQLite file with synchronous=FULL.`,
          `Two regplane processes share one PostgreSQL database and data dir; ${samples} deletes are submitted one at a time on A and waited on B; latency is from the operation's modifiedAt (set when it finished) to Wait returning on B (same host clock). An operation done before Wait arrives counts as the read latency.`,
          "The id index: SqliteStore.recordImageIds for every 100-id page, as each List did before, against filtering through the in-process map of ids already recorded, as List does now; the same pages walked repeatedly.",
        ],
      };
    } finally {
      for (const p of started) await p.stop().catch(() => {});
      await pg?.destroy();
    }
  },
};
