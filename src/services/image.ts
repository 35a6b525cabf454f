// ImageService: List across providers with one page token, Get by deterministic id, Delete as an Operation.
import { create } from "@bufbuild/protobuf";
import { anyPack, EmptySchema } from "@bufbuild/protobuf/wkt";
import { invalidField, notFound } from "../core/errors.js";
import { imageId } from "../core/ids.js";
import { WeightedLru } from "../core/lru.js";
import type { ImageRef } from "../core/store.js";
import type { RegistryView } from "../core/catalog.js";
import { listImagesAcross } from "../core/paging.js";
import { requireCapability, type Provider } from "../core/provider.js";
import type { OperationContext } from "../core/operation-types.js";
import { DeleteImageMetadataSchema, ImageService, ListImagesResponseSchema } from "../gen/regplane/v1/image_service_pb.js";
import { pageTokenBinding } from "../core/pagetoken.js";
import { bind } from "./binding.js";
import { imageToProto, operationToProto } from "./convert.js";
import type { ServiceDeps } from "./deps.js";
import { submitOnce } from "./submit.js";
import { nameFilterOf, orderKeyString, orderTermsOf, pageSizeOf } from "./listing.js";
import type { ImageRecord } from "../core/types.js";

export const DELETE_IMAGE = "image.delete";

/** Image ids resolved in memory at most (each a few hundred bytes). */
const RESOLVED_IDS_KEPT = 100_000;

interface DeleteImageParams {
  registryId: string;
  repository: string;
  digest: string;
}

export function imageService(deps: ServiceDeps) {
  const { catalog, store, engine, tokens, config } = deps;

  engine.register(DELETE_IMAGE, async (params, op: OperationContext) => {
    const p = params as DeleteImageParams;
    const provider = catalog.registry(p.registryId);
    await op.checkCancelled();
    const done = anyPack(EmptySchema, create(EmptySchema));
    op.changing(async (signal) => ((await provider.getImage(p.repository, p.digest, signal)) === undefined ? done : undefined));
    await provider.deleteImage(p.repository, p.digest, op.signal);
    return done;
  });

  // An id is a hash of what it names, so the mapping never changes: a hot Get skips the store, and a
  // List writes only ids this process has not yet seen in the store (no write, so no fsync, when repeated).
  const resolved = new WeightedLru<string, ImageRef>(RESOLVED_IDS_KEPT);

  async function record(images: ImageRecord[]): Promise<void> {
    const fresh = images
      .map((i) => ({ id: imageId(i.registryId, i.repository, i.digest), registryId: i.registryId, repository: i.repository, digest: i.digest }))
      .filter((e) => resolved.get(e.id) === undefined);
    if (fresh.length === 0) return;
    await store.recordImageIds(fresh);
    for (const e of fresh) resolved.set(e.id, { registryId: e.registryId, repository: e.repository, digest: e.digest }, 1);
  }

  /** An image id outside the caller's registries is NOT_FOUND, as one that never existed. */
  async function resolve(id: string, scope: RegistryView) {
    let ref = resolved.get(id);
    if (ref === undefined) {
      ref = await store.resolveImageId(id);
      if (ref !== undefined) resolved.set(id, ref, 1);
    }
    if (!ref || !scope.hasRegistry(ref.registryId)) throw notFound("image", id);
    return ref;
  }

  return bind(ImageService, {
    async list(req, ctx) {
      let registries: Provider[];
      let scope: string;
      let repository: { registryId: string; repository: string } | undefined;
      if (req.repositoryName !== "") {
        const slash = req.repositoryName.indexOf("/");
        if (slash < 0) throw invalidField("repository_name", "repository_name must be <registry id>/<repository path>", "repository_name.format");
        repository = { registryId: req.repositoryName.slice(0, slash), repository: req.repositoryName.slice(slash + 1) };
        registries = [ctx.catalog.registry(repository.registryId)];
        scope = `repo:${req.repositoryName}`;
      } else if (req.registryId !== "") {
        registries = [ctx.catalog.registry(req.registryId)];
        scope = `registry:${req.registryId}`;
      } else if (req.folderId !== "") {
        registries = ctx.catalog.folder(req.folderId);
        scope = `folder:${req.folderId}`;
      } else {
        registries = ctx.catalog.all();
        scope = "all";
      }
      const name = nameFilterOf(req.filter);
      const order = orderTermsOf(req.orderBy);
      let nameEquals: { registryId: string; repository: string } | undefined;
      if (name !== undefined) {
        const slash = name.indexOf("/");
        nameEquals = slash < 0 ? { registryId: name, repository: "" } : { registryId: name.slice(0, slash), repository: name.slice(slash + 1) };
      }
      const binding = pageTokenBinding("images", scope, name ?? "", orderKeyString(order), ctx.principal);
      const now = new Date();
      const state = req.pageToken === "" ? undefined : await tokens.decode(req.pageToken, binding, now);
      const page = await listImagesAcross({
        registries,
        order,
        repository,
        nameEquals,
        pageSize: pageSizeOf(req.pageSize),
        state,
        signal: ctx.signal,
        deadlineMs: ctx.deadline,
        perRegistryTimeoutMs: config.server.registryTimeout,
      });
      await record(page.images);
      return create(ListImagesResponseSchema, {
        images: page.images.map(imageToProto),
        nextPageToken: page.next === undefined ? "" : await tokens.encode(page.next, binding, now),
        unreachable: page.unreachable,
      });
    },

    async get(req, ctx) {
      const ref = await resolve(req.imageId, ctx.catalog);
      const provider = ctx.catalog.registry(ref.registryId);
      const image = await provider.getImage(ref.repository, ref.digest, ctx.signal);
      if (!image) throw notFound("image", req.imageId);
      return imageToProto(image);
    },

    async delete(req, ctx) {
      const ref = await resolve(req.imageId, ctx.catalog);
      requireCapability(ctx.catalog.registry(ref.registryId), "delete_images");
      const operation = await submitOnce(
        engine,
        ctx,
        {
          kind: DELETE_IMAGE,
          resourceId: req.imageId,
          registryId: ref.registryId,
          description: `Delete image ${ref.registryId}/${ref.repository}@${ref.digest}`,
          metadata: anyPack(DeleteImageMetadataSchema, create(DeleteImageMetadataSchema, { imageId: req.imageId })),
          params: { registryId: ref.registryId, repository: ref.repository, digest: ref.digest } satisfies DeleteImageParams,
        },
        `${DELETE_IMAGE}:${req.imageId}`,
      );
      return operationToProto(operation);
    },
  });
}
