// RegistryService: the configured registries. Create, Update and Delete go through the operations
// engine where a provider can do them; the embedded and OCI registries cannot, and say so.
import { create } from "@bufbuild/protobuf";
import { Code, notFound, RegplaneError, unsupported } from "../core/errors.js";
import { decodeCursor, encodeCursor } from "../core/paging.js";
import { ListRegistriesResponseSchema, RegistryService } from "../gen/regplane/v1/registry_service_pb.js";
import { pageTokenBinding } from "../core/pagetoken.js";
import { bind } from "../server/rpc.js";
import { registryToProto } from "./convert.js";
import type { ServiceDeps } from "./deps.js";
import { nameFilterOf, pageSizeOf } from "./listing.js";

export function registryService(deps: ServiceDeps) {
  const { catalog, tokens } = deps;

  return bind(RegistryService, {
    async get(req) {
      return registryToProto(catalog.registry(req.registryId).describe(), catalog.firstFolderOf(req.registryId));
    },

    async list(req, ctx) {
      const scope = req.folderId !== "" ? catalog.folder(req.folderId) : catalog.all();
      const name = nameFilterOf(req.filter);
      const binding = pageTokenBinding("registries", req.folderId, name ?? "", ctx.principal);
      const now = new Date();
      const after = req.pageToken === "" ? undefined : decodeCursor(await tokens.decode(req.pageToken, binding, now), 1)[0];
      const limit = pageSizeOf(req.pageSize);
      // Registries come from configuration (a short list): sorted by id, resumed after the last id.
      const matching = scope
        .map((p) => p.describe())
        .filter((r) => name === undefined || r.name === name)
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .filter((r) => after === undefined || r.id > after);
      const page = matching.slice(0, limit);
      const last = page[page.length - 1];
      return create(ListRegistriesResponseSchema, {
        registries: page.map((r) => registryToProto(r, req.folderId || catalog.firstFolderOf(r.id))),
        nextPageToken: matching.length > limit && last ? await tokens.encode(encodeCursor([last.id]), binding, now) : "",
      });
    },

    async create(req) {
      if (req.providerAccount !== "") {
        const p = catalog.registry(req.providerAccount);
        throw unsupported(p.id, p.kind, "create_registries");
      }
      throw new RegplaneError(Code.FAILED_PRECONDITION, "no configured provider account supports create_registries; set provider_account to an ionos or yandex account", {
        errorInfo: { reason: "CAPABILITY_UNSUPPORTED", metadata: { capability: "create_registries" } },
      });
    },

    async update(req) {
      const p = catalog.registry(req.registryId);
      throw unsupported(p.id, p.kind, "update_registries");
    },

    async delete(req) {
      if (!catalog.hasRegistry(req.registryId)) throw notFound("registry", req.registryId);
      const p = catalog.registry(req.registryId);
      throw unsupported(p.id, p.kind, "delete_registries");
    },
  });
}
