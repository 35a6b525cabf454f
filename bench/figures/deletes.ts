// Figure 6: 1,000 image deletes through operations on the embedded registry: how fast operations finish,
// and how long after the last Delete call returns until every operation is done.
import * as path from "node:path";
import type { Operation } from "../../src/gen/regplane/v1/operation_pb.js";
import { LocalProvider } from "../../src/adapters/local/index.js";
import { writeCatalog, type CatalogSpec } from "../lib/catalog.js";
import type { BenchContext, Figure, FigureOutcome } from "../lib/figure.js";
import { startRegplane } from "../lib/process.js";
import { measured } from "../lib/results.js";
import { imageClient, operationClient, waitAllDone, walkList } from "../lib/rpc-clients.js";
import { mapLimited } from "../lib/stats.js";

/** Delete calls in flight from the client. */
const CALL_CONCURRENCY = 16;
/** The operations engine's default concurrency (operations.concurrency), used by the baseline too. */
const ENGINE_CONCURRENCY = 8;

export const deletesFigure: Figure = {
  name: "deletes",
  title: "Deletes: 1,000 image deletes through operations",
  async run(ctx: BenchContext): Promise<FigureOutcome> {
    // Five images per repository: deletes in one layout serialize on its index.json, as they must.
    const spec: CatalogSpec = ctx.quick
      ? { seed: "deletes", namespaces: 1, repositoriesPerNamespace: 20, imagesPerRepository: 5 }
      : { seed: "deletes", namespaces: 2, repositoriesPerNamespace: 100, imagesPerRepository: 5 };
    const dataDir = path.join(ctx.workDir, "data");
    const generated = writeCatalog(path.join(dataDir, "registry"), spec);
    const direct = writeCatalog(path.join(ctx.workDir, "direct"), spec);
    const count = generated.length;

    const regplane = await startRegplane({ dataDir });
    const images = imageClient(regplane.grpcAddress);
    const operations = operationClient(regplane.grpcAddress);
    let opsPerSecond: number;
    let drainMs: number;
    let callsMs: number;
    try {
      const ids: string[] = [];
      await walkList(images, { registryId: "local" }, 1000, { onPage: (p) => ids.push(...p.images.map((i) => i.id)) });
      if (ids.length !== count) throw new Error(`listed ${ids.length} images, wrote ${count}`);

      const started = performance.now();
      const submitted = await mapLimited(ids, CALL_CONCURRENCY, async (imageId) => (await images.call("delete", { imageId })) as Operation);
      const lastReturned = performance.now();
      // Wait answers as soon as an operation is done, so the last answer is when the last one finished.
      const finished = await waitAllDone(operations, submitted);
      const allDone = performance.now();
      const failed = finished.filter((op) => op.result.case !== "response");
      if (failed.length > 0) throw new Error(`${failed.length} delete operations did not succeed, e.g. ${JSON.stringify(failed[0].result.value)}`);
      const left = await walkList(images, { registryId: "local" }, 1000);
      if (left.images !== 0) throw new Error(`${left.images} images left after deleting all`);
      opsPerSecond = count / ((allDone - started) / 1000);
      drainMs = allDone - lastReturned;
      callsMs = lastReturned - started;
      ctx.log(`${count} Delete calls returned in ${callsMs.toFixed(0)} ms; all operations done ${drainMs.toFixed(0)} ms later`);
    } finally {
      images.close();
      operations.close();
      await regplane.stop();
    }

    // Baseline: the same deletes straight on the adapter, no RPC, no store, no operations.
    const provider = new LocalProvider({ id: "local", root: path.join(ctx.workDir, "direct") });
    const signal = new AbortController().signal;
    const t = performance.now();
    await mapLimited(direct, ENGINE_CONCURRENCY, (img) => provider.deleteImage(img.repository, img.digest, signal));
    const directPerSecond = count / ((performance.now() - t) / 1000);
    await provider.close();
    ctx.log(`baseline: ${count} deletes on the adapter directly at ${directPerSecond.toFixed(0)}/s`);

    return {
      rows: [
        measured("deletes.operations_per_s", "ops/s", opsPerSecond, directPerSecond, undefined, `${count} deletes from the first Delete call until the last operation is done; baseline: LocalProvider.deleteImage on an identical copy, ${ENGINE_CONCURRENCY} at a time, in the bench process`),
        measured("deletes.done_after_last_call", "ms", drainMs, callsMs, undefined, "from the last Delete call returning until every operation is done; baseline: the time the Delete calls themselves took"),
      ],
      method: [
        `${count} images (${spec.namespaces * spec.repositoriesPerNamespace} layouts × ${spec.imagesPerRepository}) written fresh for the run; regplane (dist/main.js, --log-level warn, default operations concurrency ${ENGINE_CONCURRENCY}) lists them to learn their ids.`,
        `A grpc-js client calls ImageService.Delete for every id, ${CALL_CONCURRENCY} calls in flight; each returns an Operation at once. It then calls OperationService.Wait on every operation (64 at a time); all must end with a response, and a List afterwards must be empty.`,
        "Operations finished per second counts from the first Delete call to the last operation done. The baseline deletes the same images from an identical copy with the adapter alone (index.json rewrite and blob collection), at the engine's concurrency: the ratio is what durability (the store), the RPCs and the operations engine cost.",
      ],
    };
  },
};
