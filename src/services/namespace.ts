// NamespaceService: namespaces of every registry; mutations run as Operations through the engine.
import { create } from "@bufbuild/protobuf";
import { anyPack, EmptySchema } from "@bufbuild/protobuf/wkt";
import { invalidField, notFound } from "../core/errors.js";
import type { RegistryView } from "../core/catalog.js";
import { requireCapability, type Provider } from "../core/provider.js";
import type { Capability, NamespaceRecord } from "../core/types.js";
import { NamespaceSchema } from "../gen/regplane/v1/namespace_pb.js";
import {
  CreateNamespaceMetadataSchema,
  DeleteNamespaceMetadataSchema,
  ListNamespacesResponseSchema,
  NamespaceService,
  UpdateNamespaceMetadataSchema,
} from "../gen/regplane/v1/namespace_service_pb.js";
import { pageTokenBinding } from "../core/pagetoken.js";
import { bind, type CallContext } from "./binding.js";
import { namespaceId, namespaceToProto, visibilityFromProto } from "./convert.js";
import type { ServiceDeps } from "./deps.js";
import { createdOrFound, submitOperation } from "./submit.js";
import { listNamedAcross, nameFilterOf } from "./listing.js";

const CREATE = "namespace.create";
const UPDATE = "namespace.update";
const DELETE = "namespace.delete";

interface NamespaceParams {
  registryId: string;
  name: string;
  description?: string;
  visibility?: NamespaceRecord["visibility"];
}

function splitId(id: string): { registryId: string; name: string } {
  const slash = id.indexOf("/");
  if (slash <= 0 || slash === id.length - 1 || id.indexOf("/", slash + 1) >= 0) {
    throw invalidField("namespace_id", "namespace_id must be <registry id>/<namespace name>", "namespace_id.format");
  }
  return { registryId: id.slice(0, slash), name: id.slice(slash + 1) };
}

export function namespaceService(deps: ServiceDeps) {
  const { catalog, engine, tokens } = deps;

  // Operation handlers look registries up in the whole catalog; RPCs pass the caller's view.
  const withProvider = (registryId: string, capability: Capability, scope: RegistryView = catalog): Provider =>
    requireCapability(scope.registry(registryId), capability);

  engine.register(CREATE, async (params, op) => {
    const p = params as NamespaceParams;
    const provider = withProvider(p.registryId, "create_namespaces");
    await op.checkCancelled();
    const ns = await createdOrFound(
      op,
      () => provider.createNamespace!({ name: p.name, description: p.description ?? "", visibility: p.visibility ?? "inherit" }, op.signal),
      () => provider.getNamespace(p.name, op.signal),
    );
    return anyPack(NamespaceSchema, namespaceToProto(ns));
  });
  engine.register(UPDATE, async (params, op) => {
    const p = params as NamespaceParams;
    const provider = withProvider(p.registryId, "update_namespaces");
    await op.checkCancelled();
    const ns = await provider.updateNamespace!(p.name, { description: p.description, visibility: p.visibility }, op.signal);
    return anyPack(NamespaceSchema, namespaceToProto(ns));
  });
  engine.register(DELETE, async (params, op) => {
    const p = params as NamespaceParams;
    const provider = withProvider(p.registryId, "delete_namespaces");
    await op.checkCancelled();
    const done = anyPack(EmptySchema, create(EmptySchema));
    op.changing(async (signal) => ((await provider.getNamespace(p.name, signal)) === undefined ? done : undefined));
    await provider.deleteNamespace!(p.name, op.signal);
    return done;
  });

  function submit(ctx: CallContext, kind: string, params: NamespaceParams, description: string, metadata: { typeUrl: string; value: Uint8Array }) {
    const id = namespaceId(params.registryId, params.name);
    return submitOperation(engine, ctx, { kind, resourceId: id, registryId: params.registryId, description, metadata, params }, `${kind}:${id}`);
  }

  return bind(NamespaceService, {
    async get(req, ctx) {
      const { registryId, name } = splitId(req.namespaceId);
      const ns = await ctx.catalog.registry(registryId).getNamespace(name, ctx.signal);
      if (!ns) throw notFound("namespace", req.namespaceId);
      return namespaceToProto(ns);
    },

    async list(req, ctx) {
      const scope = req.registryId !== "" ? [ctx.catalog.registry(req.registryId)] : req.folderId !== "" ? ctx.catalog.folder(req.folderId) : ctx.catalog.all();
      const name = nameFilterOf(req.filter);
      const page = await listNamedAcross({
        registries: scope,
        pageToken: req.pageToken,
        pageSize: req.pageSize,
        binding: pageTokenBinding("namespaces", req.registryId, req.folderId, name ?? "", ctx.principal),
        tokens,
        list: async (registry, after, limit) => {
          const res = await registry.listNamespaces({ after, nameEquals: name, limit, signal: ctx.signal });
          return { items: res.namespaces, done: res.done };
        },
        nameOf: (ns) => ns.name,
      });
      return create(ListNamespacesResponseSchema, { namespaces: page.items.map(namespaceToProto), nextPageToken: page.nextPageToken, unreachable: page.unreachable });
    },

    async create(req, ctx) {
      const p = withProvider(req.registryId, "create_namespaces", ctx.catalog);
      const params: NamespaceParams = { registryId: p.id, name: req.name, description: req.description, visibility: visibilityFromProto(req.visibility) };
      const meta = anyPack(CreateNamespaceMetadataSchema, create(CreateNamespaceMetadataSchema, { namespaceId: namespaceId(p.id, req.name) }));
      return submit(ctx, CREATE, params, `Create namespace ${p.id}/${req.name}`, meta);
    },

    async update(req, ctx) {
      const { registryId, name } = splitId(req.namespaceId);
      const p = withProvider(registryId, "update_namespaces", ctx.catalog);
      const paths = req.updateMask?.paths ?? [];
      const wants = (f: string) => (paths.length === 0 ? true : paths.includes(f));
      for (const f of paths) if (f !== "description" && f !== "visibility") throw invalidField("update_mask", `cannot update ${f}; updatable: description, visibility`);
      const params: NamespaceParams = {
        registryId: p.id,
        name,
        description: wants("description") ? req.description : undefined,
        visibility: wants("visibility") && req.visibility !== 0 ? visibilityFromProto(req.visibility) : undefined,
      };
      const meta = anyPack(UpdateNamespaceMetadataSchema, create(UpdateNamespaceMetadataSchema, { namespaceId: req.namespaceId }));
      return submit(ctx, UPDATE, params, `Update namespace ${req.namespaceId}`, meta);
    },

    async delete(req, ctx) {
      const { registryId, name } = splitId(req.namespaceId);
      const p = withProvider(registryId, "delete_namespaces", ctx.catalog);
      if (!(await p.getNamespace(name, ctx.signal))) throw notFound("namespace", req.namespaceId);
      const meta = anyPack(DeleteNamespaceMetadataSchema, create(DeleteNamespaceMetadataSchema, { namespaceId: req.namespaceId }));
      return submit(ctx, DELETE, { registryId, name }, `Delete namespace ${req.namespaceId} and its images`, meta);
    },
  });
}
