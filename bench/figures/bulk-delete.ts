// Bulk delete: 1,000 images deleted by one BulkService.DeleteImages operation against the same 1,000 deleted
// by single ImageService.Delete operations, in one regplane, end to end until every operation is done.
import * as path from "node:path";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { BulkService, DeleteImagesResponseSchema } from "../../src/gen/regplane/v1/bulk_service_pb.js";
import type { Operation } from "../../src/gen/regplane/v1/operation_pb.js";
import { GrpcClient } from "../../test/support/clients.js";
import { writeCatalog, type CatalogSpec } from "../lib/catalog.js";
import type { BenchContext, Figure, FigureOutcome } from "../lib/figure.js";
import { startRegplane } from "../lib/process.js";
import { measured } from "../lib/results.js";
import { imageClient, operationClient, waitAllDone, walkList } from "../lib/rpc-clients.js";
import { mapLimited } from "../lib/stats.js";

/** Single Delete calls in flight from the client, as in the deletes figure. */
const CALL_CONCURRENCY = 16;

export const bulkDeleteFigure: Figure = {
  name: "bulk_delete",
  title: "Bulk delete: one operation for 1,000 images against 1,000 single deletes",
  async run(ctx: BenchContext): Promise<FigureOutcome> {
    // Five images per layout, as in the deletes figure; two identical catalogs in two registries.
    const shape = ctx.quick ? { namespaces: 1, repositoriesPerNamespace: 20, imagesPerRepository: 5 } : { namespaces: 2, repositoriesPerNamespace: 100, imagesPerRepository: 5 };
    const roots = { single: path.join(ctx.workDir, "single"), bulk: path.join(ctx.workDir, "bulk") };
    const spec: CatalogSpec = { seed: "bulk-delete", ...shape };
    const count = writeCatalog(roots.single, spec).length;
    writeCatalog(roots.bulk, spec);
    const config = `registries:\n  - {id: single, provider: local, path: ${JSON.stringify(roots.single)}}\n  - {id: bulk, provider: local, path: ${JSON.stringify(roots.bulk)}}\n`;

    const regplane = await startRegplane({ dataDir: path.join(ctx.workDir, "data"), config });
    const images = imageClient(regplane.grpcAddress);
    const operations = operationClient(regplane.grpcAddress);
    const bulk = new GrpcClient(BulkService, regplane.grpcAddress);
    const idsOf = async (registryId: string): Promise<string[]> => {
      const ids: string[] = [];
      await walkList(images, { registryId }, 1000, { onPage: (p) => ids.push(...p.images.map((i) => i.id)) });
      if (ids.length !== count) throw new Error(`listed ${ids.length} images in ${registryId}, wrote ${count}`);
      return ids;
    };
    const left = async (registryId: string): Promise<void> => {
      const walk = await walkList(images, { registryId }, 1000);
      if (walk.images !== 0) throw new Error(`${walk.images} images left in ${registryId}`);
    };
    let singleMs: number;
    let bulkMs: number;
    try {
      const singleIds = await idsOf("single");
      const bulkIds = await idsOf("bulk");

      let started = performance.now();
      const submitted = await mapLimited(singleIds, CALL_CONCURRENCY, async (imageId) => (await images.call("delete", { imageId })) as Operation);
      const finished = await waitAllDone(operations, submitted);
      singleMs = performance.now() - started;
      const failed = finished.filter((op) => op.result.case !== "response");
      if (failed.length > 0) throw new Error(`${failed.length} single delete operations did not succeed`);
      await left("single");

      started = performance.now();
      const op = (await bulk.call("deleteImages", { imageIds: bulkIds }, { deadlineMs: 120_000 })) as Operation;
      const [done] = await waitAllDone(operations, [op]);
      bulkMs = performance.now() - started;
      if (done.result.case !== "response") throw new Error(`the bulk delete did not succeed: ${JSON.stringify(done.result.value)}`);
      const response = anyUnpack(done.result.value, DeleteImagesResponseSchema)!;
      if (Number(response.deleted) !== count) throw new Error(`the bulk delete deleted ${response.deleted} of ${count}`);
      await left("bulk");
      ctx.log(`${count} single deletes done in ${singleMs.toFixed(0)} ms; one bulk delete of ${count} in ${bulkMs.toFixed(0)} ms`);
    } finally {
      for (const c of [images, operations, bulk]) c.close();
      await regplane.stop();
    }

    return {
      rows: [
        measured(
          "bulk_delete.images_per_s",
          "images/s",
          count / (bulkMs / 1000),
          count / (singleMs / 1000),
          { on: "ratio", op: ">=", target: 2 },
          `one DeleteImages operation of ${count} images, from the call until it is done; baseline: ${count} ImageService.Delete operations on an identical copy, from the first call until the last is done`,
        ),
      ],
      method: [
        `Two identical catalogs of ${count} images (${shape.namespaces * shape.repositoriesPerNamespace} layouts × ${shape.imagesPerRepository}) in two embedded registries of one regplane (dist/main.js, default operations concurrency); both are listed first so their ids are known.`,
        `Baseline: a grpc-js client calls ImageService.Delete for every id of one registry (${CALL_CONCURRENCY} in flight), then OperationService.Wait on each; all must succeed and a List must be empty.`,
        "Measured: one BulkService.DeleteImages call with every id of the other registry, then Wait until it is done; its response must count every image deleted and a List must be empty. The ratio is how many times faster the bulk operation empties the registry.",
      ],
    };
  },
};
