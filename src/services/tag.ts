// TagService: removes one tag of an image as an Operation, on providers that remove a tag alone
// (capability delete_tags); never by deleting the image.
import { create } from "@bufbuild/protobuf";
import { anyPack, EmptySchema } from "@bufbuild/protobuf/wkt";
import { Code, notFound, RegplaneError } from "../core/errors.js";
import type { OperationContext } from "../core/operation-types.js";
import { requireCapability } from "../core/provider.js";
import { DeleteTagMetadataSchema, TagService } from "../gen/regplane/v1/tag_service_pb.js";
import { bind } from "./binding.js";
import type { ServiceDeps } from "./deps.js";
import { submitOperation } from "./submit.js";

export const DELETE_TAG = "tag.delete";

interface DeleteTagParams {
  registryId: string;
  repository: string;
  digest: string;
  tag: string;
}

export function tagService(deps: ServiceDeps) {
  const { catalog, engine } = deps;

  engine.register(DELETE_TAG, async (params, op: OperationContext) => {
    const p = params as DeleteTagParams;
    const provider = requireCapability(catalog.registry(p.registryId), "delete_tags");
    await op.checkCancelled();
    const done = anyPack(EmptySchema, create(EmptySchema));
    op.changing(async (signal) => ((await provider.getImage(p.repository, p.digest, signal))?.tags.includes(p.tag) ? undefined : done));
    await provider.deleteTag!(p.repository, p.digest, p.tag, op.signal);
    return done;
  });

  return bind(TagService, {
    async delete(req, ctx) {
      const ref = await deps.ids.images.resolve(req.imageId, ctx.catalog);
      const provider = requireCapability(ctx.catalog.registry(ref.registryId), "delete_tags");
      const image = await provider.getImage(ref.repository, ref.digest, ctx.signal);
      if (image === undefined) throw notFound("image", req.imageId);
      if (!image.tags.includes(req.tag)) {
        throw new RegplaneError(Code.NOT_FOUND, `image ${req.imageId} has no tag ${JSON.stringify(req.tag)}`, {
          errorInfo: { reason: "TAG_NOT_FOUND", metadata: { image_id: req.imageId, tag: req.tag } },
        });
      }
      const resourceId = `${req.imageId}:${req.tag}`;
      return submitOperation(
        engine,
        ctx,
        {
          kind: DELETE_TAG,
          resourceId,
          registryId: ref.registryId,
          description: `Remove tag ${req.tag} from image ${ref.registryId}/${ref.repository}@${ref.digest}`,
          metadata: anyPack(DeleteTagMetadataSchema, create(DeleteTagMetadataSchema, { imageId: req.imageId, tag: req.tag })),
          params: { registryId: ref.registryId, repository: ref.repository, digest: ref.digest, tag: req.tag } satisfies DeleteTagParams,
        },
        `${DELETE_TAG}:${resourceId}`,
      );
    },
  });
}
