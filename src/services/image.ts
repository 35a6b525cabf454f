// ImageService: List across providers with one page token, Get by deterministic id, Delete as an Operation.
import { create } from "@bufbuild/protobuf";
import { anyPack, EmptySchema } from "@bufbuild/protobuf/wkt";
import { invalidField, notFound } from "../core/errors.js";
import { imageId } from "../core/ids.js";
import { listImagesAcross } from "../core/paging.js";
import { requireCapability, type Provider } from "../core/provider.js";
import type { OperationContext } from "../core/operation-types.js";
import { DeleteImageMetadataSchema, ImageService, ListImagesResponseSchema } from "../gen/regplane/v1/image_service_pb.js";
import { pageTokenBinding } from "../core/pagetoken.js";
import { bind } from "./binding.js";
import { imageToProto } from "./convert.js";
import type { ServiceDeps } from "./deps.js";
import { nameFilterOf, orderKeyString, orderTermsOf, pageSizeOf } from "./listing.js";
import { submitOperation } from "./submit.js";
import type { ImageRecord } from "../core/types.js";

export const DELETE_IMAGE = "image.delete";

interface DeleteImageParams {
  registryId: string;
  repository: string;
  digest: string;
}

export function imageService(deps: ServiceDeps) {
  const { catalog, engine, tokens, config } = deps;

  engine.register(DELETE_IMAGE, async (params, op: OperationContext) => {
    const p = params as DeleteImageParams;
    const provider = catalog.registry(p.registryId);
    await op.checkCancelled();
    const done = anyPack(EmptySchema, create(EmptySchema));
    op.changing(async (signal) => ((await provider.getImage(p.repository, p.digest, signal)) === undefined ? done : undefined));
    await provider.deleteImage(p.repository, p.digest, op.signal);
    return done;
  });

  const ids = deps.ids.images;
  const record = (images: ImageRecord[]) =>
    ids.record(images.map((i) => ({ id: imageId(i.registryId, i.repository, i.digest), registryId: i.registryId, repository: i.repository, digest: i.digest })));

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
      const ref = await ids.resolve(req.imageId, ctx.catalog);
      const provider = ctx.catalog.registry(ref.registryId);
      const image = await provider.getImage(ref.repository, ref.digest, ctx.signal);
      if (!image) throw notFound("image", req.imageId);
      return imageToProto(image);
    },

    async delete(req, ctx) {
      const ref = await ids.resolve(req.imageId, ctx.catalog);
      requireCapability(ctx.catalog.registry(ref.registryId), "delete_images");
      return submitOperation(
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
    },
  });
}
