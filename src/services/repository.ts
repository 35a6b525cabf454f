// RepositoryService: repositories of every registry by deterministic id or by name, listed in order of
// name across the registries of a scope; Create and Delete run as Operations through the engine.
import { create } from "@bufbuild/protobuf";
import { anyPack, EmptySchema } from "@bufbuild/protobuf/wkt";
import { invalidField, notFound } from "../core/errors.js";
import { repositoryId } from "../core/ids.js";
import { compareStrings } from "../core/order.js";
import { pageTokenBinding } from "../core/pagetoken.js";
import { requireCapability, type Provider } from "../core/provider.js";
import type { RepositoryRef } from "../core/store.js";
import type { RepositoryRecord } from "../core/types.js";
import { RepositorySchema } from "../gen/regplane/v1/repository_pb.js";
import {
  CreateRepositoryMetadataSchema,
  DeleteRepositoryMetadataSchema,
  ListRepositoriesResponseSchema,
  RepositoryService,
} from "../gen/regplane/v1/repository_service_pb.js";
import { bind } from "./binding.js";
import { repositoryToProto } from "./convert.js";
import type { ServiceDeps } from "./deps.js";
import { listNamedAcross, nameFilterOf } from "./listing.js";
import { createdOrFound, submitOperation } from "./submit.js";

const CREATE = "repository.create";
const DELETE = "repository.delete";

/** The Distribution spec's bound on a repository path, which every provider keeps to. */
const MAX_PATH_LENGTH = 255;

/** "<registry id>/<path>" → its parts; a name without a path, or with a longer one than any registry takes, names no repository. */
function splitName(name: string, field: string): RepositoryRef {
  const slash = name.indexOf("/");
  if (slash <= 0 || slash === name.length - 1) throw invalidField(field, `${field} must be <registry id>/<repository path>`, `${field}.format`);
  const repository = name.slice(slash + 1);
  if (repository.length > MAX_PATH_LENGTH) throw invalidField(field, `the repository path must be at most ${MAX_PATH_LENGTH} characters`, `${field}.path_length`);
  return { registryId: name.slice(0, slash), repository };
}

/**
 * Every name in a registry starts with "<registry id>/", and no two such prefixes are prefixes of each
 * other, so walking the registries in the order of these prefixes lists every repository in order of name.
 */
function inNameOrder(registries: Provider[]): Provider[] {
  return [...registries].sort((a, b) => compareStrings(`${a.id}/`, `${b.id}/`));
}

export function repositoryService(deps: ServiceDeps) {
  const { catalog, engine, tokens } = deps;
  const ids = deps.ids.repositories;
  const entry = (ref: RepositoryRef) => ({ id: repositoryId(ref.registryId, ref.repository), ...ref });
  const record = (repositories: RepositoryRecord[]) => ids.record(repositories.map((r) => entry({ registryId: r.registryId, repository: r.name })));

  engine.register(CREATE, async (params, op) => {
    const p = params as RepositoryRef;
    const provider = requireCapability(catalog.registry(p.registryId), "create_repositories");
    await op.checkCancelled();
    const made = await createdOrFound(
      op,
      () => provider.createRepository!(p.repository, op.signal),
      () => provider.getRepository(p.repository, op.signal),
    );
    return anyPack(RepositorySchema, repositoryToProto(made));
  });
  engine.register(DELETE, async (params, op) => {
    const p = params as RepositoryRef;
    const provider = requireCapability(catalog.registry(p.registryId), "delete_repositories");
    await op.checkCancelled();
    const done = anyPack(EmptySchema, create(EmptySchema));
    op.changing(async (signal) => ((await provider.getRepository(p.repository, signal)) === undefined ? done : undefined));
    await provider.deleteRepository!(p.repository, op.signal);
    return done;
  });

  return bind(RepositoryService, {
    async get(req, ctx) {
      const ref = await ids.resolve(req.repositoryId, ctx.catalog);
      const found = await ctx.catalog.registry(ref.registryId).getRepository(ref.repository, ctx.signal);
      if (!found) throw notFound("repository", req.repositoryId);
      return repositoryToProto(found);
    },

    async getByName(req, ctx) {
      const ref = splitName(req.repositoryName, "repository_name");
      // A registry outside the caller's view answers as a repository that does not exist.
      const found = ctx.catalog.hasRegistry(ref.registryId) ? await ctx.catalog.registry(ref.registryId).getRepository(ref.repository, ctx.signal) : undefined;
      if (!found) throw notFound("repository", req.repositoryName);
      await record([found]);
      return repositoryToProto(found);
    },

    async list(req, ctx) {
      let registries = req.registryId !== "" ? [ctx.catalog.registry(req.registryId)] : req.folderId !== "" ? ctx.catalog.folder(req.folderId) : ctx.catalog.all();
      const name = nameFilterOf(req.filter);
      // The filter names one repository, so only its registry is asked.
      let nameEquals: string | undefined;
      if (name !== undefined) {
        const slash = name.indexOf("/");
        registries = slash <= 0 ? [] : registries.filter((p) => p.id === name.slice(0, slash));
        nameEquals = name.slice(slash + 1);
      }
      const page = await listNamedAcross({
        registries: inNameOrder(registries),
        pageToken: req.pageToken,
        pageSize: req.pageSize,
        binding: pageTokenBinding("repositories", req.registryId, req.folderId, name ?? "", ctx.principal),
        tokens,
        list: async (registry, after, limit) => {
          const res = await registry.listRepositories({ after, nameEquals, limit, signal: ctx.signal });
          return { items: res.repositories, done: res.done };
        },
        nameOf: (r) => r.name,
      });
      await record(page.items);
      return create(ListRepositoriesResponseSchema, { repositories: page.items.map(repositoryToProto), nextPageToken: page.nextPageToken, unreachable: page.unreachable });
    },

    async create(req, ctx) {
      const ref = splitName(req.name, "name");
      requireCapability(ctx.catalog.registry(ref.registryId), "create_repositories");
      const id = repositoryId(ref.registryId, ref.repository);
      // Recorded now, so the id in the metadata resolves from the moment the operation exists.
      await ids.record([{ id, ...ref }]);
      const metadata = anyPack(CreateRepositoryMetadataSchema, create(CreateRepositoryMetadataSchema, { repositoryId: id }));
      return submitOperation(engine, ctx, { kind: CREATE, resourceId: id, registryId: ref.registryId, description: `Create repository ${req.name}`, metadata, params: ref }, `${CREATE}:${id}`);
    },

    async delete(req, ctx) {
      const ref = await ids.resolve(req.repositoryId, ctx.catalog);
      requireCapability(ctx.catalog.registry(ref.registryId), "delete_repositories");
      const metadata = anyPack(DeleteRepositoryMetadataSchema, create(DeleteRepositoryMetadataSchema, { repositoryId: req.repositoryId }));
      const description = `Delete repository ${ref.registryId}/${ref.repository} and its images`;
      const params: RepositoryRef = { registryId: ref.registryId, repository: ref.repository };
      return submitOperation(engine, ctx, { kind: DELETE, resourceId: req.repositoryId, registryId: ref.registryId, description, metadata, params }, `${DELETE}:${req.repositoryId}`);
    },
  });
}
