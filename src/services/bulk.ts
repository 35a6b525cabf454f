// BulkService: many images deleted as one Operation. The items' outcomes live in the operation's params
// and are saved as they finish, so a re-run after a crash sends no delete for an item already settled.
import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { anyPack, timestampNow } from "@bufbuild/protobuf/wkt";
import { notFound } from "../core/errors.js";
import type { OperationContext } from "../core/operation-types.js";
import { requireCapability, type Provider } from "../core/provider.js";
import type { ImageRef, StatusRecord } from "../core/store.js";
import type { RegistryView } from "../core/catalog.js";
import {
  BulkService,
  DeleteImagesMetadataSchema,
  DeleteImagesResponseSchema,
  type DeleteImagesResponse,
} from "../gen/regplane/v1/bulk_service_pb.js";
import { OperationSchema } from "../gen/regplane/v1/operation_pb.js";
import { bind } from "./binding.js";
import type { IdIndex } from "./id-index.js";
import type { ServiceDeps } from "./deps.js";
import { toStatusRecord } from "./status.js";
import { submitOperation } from "./submit.js";

export const BULK_DELETE_IMAGES = "image.bulk_delete";

/** Deletes in flight at once per registry: enough to overlap provider round trips, few enough to stay polite. */
const DELETES_PER_REGISTRY = 8;
/** Digests of one repository a provider with deleteImages takes per call. */
const DIGESTS_PER_BATCH = 100;

interface BulkItem {
  imageId: string;
  /** Absent when the id did not resolve for the caller at submit; its outcome is then set from the start. */
  ref?: ImageRef;
}

/** A google.rpc.Status as JSON (details' bytes in base64), since params are stored as JSON. */
interface StatusJson {
  code: number;
  message: string;
  details: Array<{ typeUrl: string; value: string }>;
}

/** "deleted", the item's failure, or null while it is unsettled. */
type Outcome = "deleted" | StatusJson | null;

interface BulkDeleteParams {
  /** Every requested id, in request order. */
  items: BulkItem[];
  /** Parallel to items. */
  outcomes: Outcome[];
}

function statusJson(err: unknown): StatusJson {
  const s = toStatusRecord(err);
  return { code: s.code, message: s.message, details: s.details.map((d) => ({ typeUrl: d.typeUrl, value: Buffer.from(d.value).toString("base64") })) };
}

function statusRecord(s: StatusJson): StatusRecord {
  return { code: s.code, message: s.message, details: s.details.map((d) => ({ typeUrl: d.typeUrl, value: new Uint8Array(Buffer.from(d.value, "base64")) })) };
}

function metadataOf(outcomes: readonly Outcome[]) {
  const done = outcomes.filter((o) => o === "deleted").length;
  const failed = outcomes.filter((o) => o !== null && o !== "deleted").length;
  return anyPack(DeleteImagesMetadataSchema, create(DeleteImagesMetadataSchema, { total: BigInt(outcomes.length), done: BigInt(done), failed: BigInt(failed) }));
}

function responseOf(p: BulkDeleteParams): DeleteImagesResponse {
  const failed = p.items.flatMap((item, i) => {
    const o = p.outcomes[i];
    return o === null || o === "deleted" ? [] : [{ imageId: item.imageId, status: statusRecord(o) }];
  });
  return create(DeleteImagesResponseSchema, { failed, deleted: BigInt(p.outcomes.filter((o) => o === "deleted").length) });
}

/** Item indexes grouped by a key of each, in first-seen order. */
function groupIndexes(indexes: readonly number[], keyOf: (i: number) => string): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  for (const i of indexes) {
    const key = keyOf(i);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [i]);
    else group.push(i);
  }
  return groups;
}

/** Item indexes grouped by repository, in batches of at most DIGESTS_PER_BATCH. */
function batchesByRepository(indexes: readonly number[], repositoryOf: (i: number) => string): number[][] {
  const batches: number[][] = [];
  for (const group of groupIndexes(indexes, repositoryOf).values()) for (let k = 0; k < group.length; k += DIGESTS_PER_BATCH) batches.push(group.slice(k, k + DIGESTS_PER_BATCH));
  return batches;
}

/** What the caller may delete: an id it cannot see fails exactly as one that never existed. */
async function resolveItem(imageId: string, ids: IdIndex<ImageRef>, view: RegistryView): Promise<{ item: BulkItem; outcome: Outcome }> {
  const ref = await ids.find(imageId, view);
  if (ref === undefined) return { item: { imageId }, outcome: statusJson(notFound("image", imageId)) };
  try {
    requireCapability(view.registry(ref.registryId), "delete_images");
  } catch (err) {
    return { item: { imageId, ref }, outcome: statusJson(err) };
  }
  return { item: { imageId, ref }, outcome: null };
}

/**
 * Saves progress after items settle, one write at a time: items that settle during a write go into the
 * next one, so 1,000 items cost far fewer than 1,000 writes. Each write is followed by a cancel check.
 */
class ProgressWriter {
  private dirty = false;
  private writing?: Promise<void>;
  private failure?: unknown;

  constructor(
    private readonly op: OperationContext,
    private readonly snapshot: () => BulkDeleteParams,
  ) {}

  changed(): void {
    this.dirty = true;
    this.writing ??= this.drain();
  }

  /** Writes what is not yet written; throws a write's failure (a lost lease, the store down). */
  async flush(): Promise<void> {
    await this.writing;
    if (this.failure === undefined) {
      const p = this.snapshot();
      await this.op.progress({ metadata: metadataOf(p.outcomes), params: p });
    }
    if (this.failure !== undefined) throw this.failure;
  }

  private async drain(): Promise<void> {
    while (this.dirty && this.failure === undefined) {
      this.dirty = false;
      const p = this.snapshot();
      try {
        await this.op.progress({ metadata: metadataOf(p.outcomes), params: p });
        await this.op.checkCancelled();
      } catch (err) {
        // A cancel also aborts op.signal, which stops the workers; only a failed write is kept.
        if (!this.op.signal.aborted) this.failure = err;
      }
    }
    this.writing = undefined;
  }
}

export function bulkService(deps: ServiceDeps) {
  const { catalog, engine } = deps;

  engine.register(BULK_DELETE_IMAGES, async (params, op: OperationContext) => {
    const p = params as BulkDeleteParams;
    const outcomes = [...p.outcomes];
    const writer = new ProgressWriter(op, () => ({ items: p.items, outcomes: [...outcomes] }));
    const unsettled = outcomes.flatMap((o, i) => (o === null && p.items[i].ref ? [i] : []));
    const byRegistry = groupIndexes(unsettled, (i) => p.items[i].ref!.registryId);

    const drainRegistry = async (registryId: string, indexes: number[]): Promise<void> => {
      let provider: Provider;
      try {
        provider = requireCapability(catalog.registry(registryId), "delete_images");
      } catch (err) {
        for (const i of indexes) outcomes[i] = statusJson(err);
        writer.changed();
        return;
      }
      const deleteOne = async (i: number): Promise<void> => {
        const ref = p.items[i].ref!;
        try {
          // Idempotent: an image already gone (deleted by a run that crashed before saving) is success.
          await provider.deleteImage(ref.repository, ref.digest, op.signal);
          outcomes[i] = "deleted";
        } catch (err) {
          if (op.signal.aborted) throw err;
          outcomes[i] = statusJson(err);
        }
      };
      // A unit of work: one item, or (where the provider deletes several at once) one repository's batch.
      const units = provider.deleteImages ? batchesByRepository(indexes, (i) => p.items[i].ref!.repository) : indexes.map((i) => [i]);
      const deleteUnit = async (unit: number[]): Promise<void> => {
        if (unit.length === 1 || !provider.deleteImages) {
          for (const i of unit) await deleteOne(i);
          return;
        }
        try {
          await provider.deleteImages(p.items[unit[0]].ref!.repository, unit.map((i) => p.items[i].ref!.digest), op.signal);
          for (const i of unit) outcomes[i] = "deleted";
        } catch (err) {
          if (op.signal.aborted) throw err;
          // One at a time, to give each image its own outcome.
          for (const i of unit) await deleteOne(i);
        }
      };
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < units.length) {
          if (op.signal.aborted) throw op.signal.reason;
          await deleteUnit(units[next++]);
          writer.changed();
        }
      };
      await Promise.all(Array.from({ length: Math.min(DELETES_PER_REGISTRY, units.length) }, worker));
    };

    const settled = await Promise.allSettled([...byRegistry].map(([registryId, indexes]) => drainRegistry(registryId, indexes)));
    // Saved even when stopping, so a cancelled operation keeps the items it finished in its metadata.
    await writer.flush();
    const stopped = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (stopped) throw stopped.reason;
    return anyPack(DeleteImagesResponseSchema, responseOf({ items: p.items, outcomes }));
  });

  return bind(BulkService, {
    async deleteImages(req, ctx) {
      const resolved = await Promise.all(req.imageIds.map((id) => resolveItem(id, deps.ids.images, ctx.catalog)));
      const params: BulkDeleteParams = { items: resolved.map((r) => r.item), outcomes: resolved.map((r) => r.outcome) };
      const description = `Delete ${req.imageIds.length} images`;
      if (req.validateOnly) {
        // Not stored: validating changes nothing, not even the operation list; hence the empty id.
        const now = timestampNow();
        return create(OperationSchema, {
          description: `Validate: ${description}`,
          createdAt: now,
          createdBy: ctx.principal,
          modifiedAt: now,
          done: true,
          metadata: metadataOf(params.outcomes),
          result: { case: "response", value: anyPack(DeleteImagesResponseSchema, responseOf(params)) },
        });
      }
      // The id set names the resource, so an idempotency key reused for other ids is refused.
      const resourceId = `images:${createHash("sha256").update(req.imageIds.join("\n")).digest("hex").slice(0, 32)}`;
      // On no registry: such an operation is visible to its creator only, so it tells no other tenant which ids were asked for.
      return submitOperation(engine, ctx, { kind: BULK_DELETE_IMAGES, resourceId, registryId: "", description, metadata: metadataOf(params.outcomes), params });
    },
  });
}
