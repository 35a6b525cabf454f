// NamespaceService: namespaces of every registry; mutations run as Operations through the engine.
import { create } from "@bufbuild/protobuf";
import { anyPack, EmptySchema } from "@bufbuild/protobuf/wkt";
import { invalidField, nothingListed, notFound, Code } from "../core/errors.js";
import { decodeCursor, encodeCursor } from "../core/positions.js";
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
import { namespaceId, namespaceToProto, operationToProto, visibilityFromProto } from "./convert.js";
import type { ServiceDeps } from "./deps.js";
import { submitOnce } from "./submit.js";
import { nameFilterOf, pageSizeOf } from "./listing.js";
import { toRegplaneError } from "./status.js";

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
    try {
      const ns = await provider.createNamespace!({ name: p.name, description: p.description ?? "", visibility: p.visibility ?? "inherit" }, op.signal);
      return anyPack(NamespaceSchema, namespaceToProto(ns));
    } catch (err) {
      // A re-run after a crash finds the namespace it created: that is success.
      if (toRegplaneError(err).code === Code.ALREADY_EXISTS && op.operation.attempts > 1) {
        const ns = await provider.getNamespace(p.name, op.signal);
        if (ns) return anyPack(NamespaceSchema, namespaceToProto(ns));
      }
      throw err;
    }
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

  async function submit(ctx: CallContext, kind: string, params: NamespaceParams, description: string, metadata: { typeUrl: string; value: Uint8Array }) {
    const id = namespaceId(params.registryId, params.name);
    const operation = await submitOnce(engine, ctx, { kind, resourceId: id, registryId: params.registryId, description, metadata, params }, `${kind}:${id}`);
    return operationToProto(operation);
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
      const binding = pageTokenBinding("namespaces", req.registryId, req.folderId, name ?? "", ctx.principal);
      const now = new Date();
      // Position: index of the registry in scope and the last namespace name returned from it.
      let pos = { index: 0, after: "" };
      if (req.pageToken !== "") {
        const [index, after] = decodeCursor(await tokens.decode(req.pageToken, binding, now), 2);
        if (!/^\d+$/.test(index) || Number(index) >= scope.length) throw invalidField("page_token", "invalid page token", "page_token.invalid");
        pos = { index: Number(index), after };
      }
      const limit = pageSizeOf(req.pageSize);
      const startIndex = pos.index;
      const out: NamespaceRecord[] = [];
      const unreachable: string[] = [];
      const failures: Array<{ registryId: string; error: unknown }> = [];
      let resumeAt: { index: number; after: string } | undefined;
      // Registries in scope order, each by namespace name; an unreachable one is named and the walk goes on.
      for (let i = pos.index; i < scope.length && out.length < limit; i++) {
        const after = i === pos.index ? pos.after : "";
        try {
          const res = await scope[i].listNamespaces({ after: after || undefined, nameEquals: name, limit: limit - out.length, signal: ctx.signal });
          out.push(...res.namespaces);
          const last = res.namespaces[res.namespaces.length - 1];
          if (!res.done) {
            resumeAt = { index: i, after: last?.name ?? after };
            break;
          }
        } catch (err) {
          if (scope.length === 1) throw err;
          unreachable.push(scope[i].id);
          failures.push({ registryId: scope[i].id, error: err });
          resumeAt ??= { index: i, after };
        }
        pos = { index: i + 1, after: "" };
      }
      // Nothing from anyone: the same answer as ImageService.List gives.
      if (out.length === 0 && failures.length > 0 && failures.length === scope.length - startIndex) throw nothingListed(failures);
      if (resumeAt === undefined && pos.index < scope.length) resumeAt = pos;
      return create(ListNamespacesResponseSchema, {
        namespaces: out.map(namespaceToProto),
        nextPageToken: resumeAt ? await tokens.encode(encodeCursor([String(resumeAt.index), resumeAt.after]), binding, now) : "",
        unreachable,
      });
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
