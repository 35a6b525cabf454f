// RegistryService: the configured registries, and the registries that provider accounts hold.
//
// A configured entry is what the catalog holds (the embedded registry, an OCI endpoint, an IONOS
// contract, a Yandex folder, …) and keeps its configured id. Entries whose provider implements the
// optional registry methods are provider accounts: the registries inside them are listed and
// addressed by the provider's own ids (an IONOS UUID, a Yandex crp… id) and created, updated and
// deleted through the operations engine. Get, Update and Delete find the account holding a provider
// id by asking every account. Providers without those methods answer FAILED_PRECONDITION naming
// the capability.
import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { anyPack, EmptySchema } from "@bufbuild/protobuf/wkt";
import { Code, invalidField, notFound, RegplaneError, unsupported } from "../core/errors.js";
import { decodeCursor, encodeCursor } from "../core/positions.js";
import type { RegistryView } from "../core/catalog.js";
import { requireCapability, type Provider } from "../core/provider.js";
import type { Capability, RegistryPatch, RegistryRecord, RegistrySpec } from "../core/types.js";
import { RegistrySchema } from "../gen/regplane/v1/registry_pb.js";
import {
  CreateRegistryMetadataSchema,
  DeleteRegistryMetadataSchema,
  ListRegistriesResponseSchema,
  RegistryService,
  UpdateRegistryMetadataSchema,
  type UpdateRegistryRequest,
} from "../gen/regplane/v1/registry_service_pb.js";
import { pageTokenBinding } from "../core/pagetoken.js";
import { bind, type CallContext } from "./binding.js";
import { toRegplaneError } from "./status.js";
import { registryToProto } from "./convert.js";
import type { ServiceDeps } from "./deps.js";
import { submitOperation } from "./submit.js";
import { nameFilterOf, pageSizeOf } from "./listing.js";

const CREATE = "registry.create";
const UPDATE = "registry.update";
const DELETE = "registry.delete";

interface CreateParams {
  account: string;
  folderId: string;
  spec: RegistrySpec;
}

interface UpdateParams {
  account: string;
  registryId: string;
  patch: RegistryPatch;
}

interface DeleteParams {
  account: string;
  registryId: string;
}

const UPDATABLE = ["name", "labels", "garbage_collection_schedule", "api_subnet_allow_list"];

export function registryService(deps: ServiceDeps) {
  const { catalog, engine, tokens } = deps;

  /** The configured account, if it can do `method`; FAILED_PRECONDITION naming the capability otherwise. */
  // Operation handlers look accounts up in the whole catalog; RPCs pass the caller's view.
  const accountWith = (id: string, capability: Capability, scope: RegistryView = catalog): Provider =>
    requireCapability(scope.registry(id), capability);

  /** The account holding a provider registry id; an account that could not be asked fails the lookup. */
  async function locate(registryId: string, signal: AbortSignal, scope: RegistryView): Promise<{ account: Provider; record: RegistryRecord } | undefined> {
    const accounts = scope.all().filter((p) => typeof p.getRegistry === "function");
    const results = await Promise.allSettled(accounts.map(async (account) => ({ account, record: await account.getRegistry!(registryId, signal) })));
    for (const r of results) if (r.status === "fulfilled" && r.value.record) return { account: r.value.account, record: r.value.record };
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    return undefined;
  }

  /** A configured entry is configuration: it is changed in the config file, its registries here. */
  const configuredEntry = (p: Provider, capability: "update_registries" | "delete_registries"): RegplaneError =>
    new RegplaneError(
      Code.FAILED_PRECONDITION,
      `registry ${JSON.stringify(p.id)} is a configured ${p.kind} provider account; ${capability === "update_registries" ? "update" : "delete"} the registries it holds by their provider ids (RegistryService.List shows them)`,
      { errorInfo: { reason: "PROVIDER_ACCOUNT_IS_CONFIGURATION", metadata: { registry_id: p.id, provider: p.kind, capability } } },
    );

  engine.register(CREATE, async (params, op) => {
    const p = params as CreateParams;
    const account = accountWith(p.account, "create_registries");
    await op.checkCancelled();
    try {
      return anyPack(RegistrySchema, registryToProto(await account.createRegistry!(p.spec, op.signal), p.folderId));
    } catch (err) {
      // A re-run after a crash finds the registry its first run created: that is success.
      const code = toRegplaneError(err).code;
      if ((code === Code.ALREADY_EXISTS || code === Code.ABORTED) && op.operation.attempts > 1 && p.spec.name !== "" && account.listRegistries) {
        const existing = (await account.listRegistries(op.signal)).find((r) => r.name === p.spec.name);
        if (existing) return anyPack(RegistrySchema, registryToProto(existing, p.folderId));
      }
      throw err;
    }
  });
  engine.register(UPDATE, async (params, op) => {
    const p = params as UpdateParams;
    const account = accountWith(p.account, "update_registries");
    await op.checkCancelled();
    const record = await account.updateRegistry!(p.registryId, p.patch, op.signal);
    return anyPack(RegistrySchema, registryToProto(record, catalog.firstFolderOf(account.id)));
  });
  engine.register(DELETE, async (params, op) => {
    const p = params as DeleteParams;
    const account = accountWith(p.account, "delete_registries");
    await op.checkCancelled();
    await account.deleteRegistry!(p.registryId, op.signal);
    return anyPack(EmptySchema, create(EmptySchema));
  });

  function submit(
    ctx: CallContext,
    kind: string,
    fields: { resourceId: string; account: string; description: string; metadata: { typeUrl: string; value: Uint8Array }; params: unknown; dedupeKey?: string },
  ) {
    const { resourceId, account, description, metadata, params, dedupeKey } = fields;
    return submitOperation(engine, ctx, { kind, resourceId, registryId: account, description, metadata, params }, dedupeKey);
  }

  return bind(RegistryService, {
    async get(req, ctx) {
      // Each RPC looks registries up in the caller's view only, so another tenant's read as not found.
      const { catalog } = ctx;
      if (catalog.hasRegistry(req.registryId)) return registryToProto(catalog.registry(req.registryId).describe(), catalog.firstFolderOf(req.registryId));
      const found = await locate(req.registryId, ctx.signal, catalog);
      if (!found) throw notFound("registry", req.registryId);
      return registryToProto(found.record, catalog.firstFolderOf(found.account.id));
    },

    async list(req, ctx) {
      const { catalog } = ctx;
      const scope = req.folderId !== "" ? catalog.folder(req.folderId) : catalog.all();
      const name = nameFilterOf(req.filter);
      const binding = pageTokenBinding("registries", req.folderId, name ?? "", ctx.principal);
      const now = new Date();
      const after = req.pageToken === "" ? undefined : decodeCursor(await tokens.decode(req.pageToken, binding, now), 1)[0];
      const limit = pageSizeOf(req.pageSize);
      const folderOf = (accountId: string) => req.folderId || catalog.firstFolderOf(accountId);
      // Configured entries, then what each account in scope holds (a short list per account, read
      // whole on every page): sorted by id, resumed after the last id.
      const byId = new Map<string, { record: RegistryRecord; folderId: string }>();
      for (const p of scope) byId.set(p.id, { record: p.describe(), folderId: folderOf(p.id) });
      const accounts = scope.filter((p) => typeof p.listRegistries === "function");
      const unreachable: string[] = [];
      const held = await Promise.allSettled(accounts.map((p) => p.listRegistries!(ctx.signal)));
      held.forEach((r, i) => {
        if (r.status === "rejected") {
          if (accounts.length === 1 && scope.length === 1) throw r.reason;
          unreachable.push(accounts[i].id);
          return;
        }
        for (const record of r.value) if (!byId.has(record.id)) byId.set(record.id, { record, folderId: folderOf(accounts[i].id) });
      });
      const matching = [...byId.values()]
        .filter(({ record }) => name === undefined || record.name === name)
        .sort((a, b) => (a.record.id < b.record.id ? -1 : a.record.id > b.record.id ? 1 : 0))
        .filter(({ record }) => after === undefined || record.id > after);
      const page = matching.slice(0, limit);
      const last = page[page.length - 1];
      return create(ListRegistriesResponseSchema, {
        registries: page.map(({ record, folderId }) => registryToProto(record, folderId)),
        nextPageToken: matching.length > limit && last ? await tokens.encode(encodeCursor([last.record.id]), binding, now) : "",
        unreachable,
      });
    },

    async create(req, ctx) {
      const folder = ctx.catalog.folder(req.folderId);
      let account: Provider;
      if (req.providerAccount !== "") {
        account = accountWith(req.providerAccount, "create_registries", ctx.catalog);
        if (!folder.includes(account)) throw invalidField("provider_account", `provider account ${JSON.stringify(account.id)} is not in folder ${JSON.stringify(req.folderId)}`);
      } else {
        const able = folder.filter((p) => p.capabilities.has("create_registries"));
        if (able.length === 0) {
          throw new RegplaneError(Code.FAILED_PRECONDITION, "no configured provider account supports create_registries; set provider_account to an ionos or yandex account", {
            errorInfo: { reason: "CAPABILITY_UNSUPPORTED", metadata: { capability: "create_registries" } },
          });
        }
        if (able.length > 1) throw invalidField("provider_account", `folder ${JSON.stringify(req.folderId)} holds several provider accounts (${able.map((p) => p.id).join(", ")}); name one`);
        account = able[0];
      }
      const spec: RegistrySpec = { name: req.name, labels: { ...req.labels } };
      if (req.location !== "") spec.location = req.location;
      if (req.garbageCollectionSchedule) spec.garbageCollectionSchedule = { days: [...req.garbageCollectionSchedule.days], time: req.garbageCollectionSchedule.time };
      // The provider picks the id, so the metadata cannot name it yet; the response Registry does.
      const metadata = anyPack(CreateRegistryMetadataSchema, create(CreateRegistryMetadataSchema, { registryId: "" }));
      return submit(ctx, CREATE, {
        resourceId: `${account.id}/${req.name}`,
        account: account.id,
        description: `Create registry ${req.name || "(unnamed)"} in ${account.id}`,
        metadata,
        params: { account: account.id, folderId: req.folderId, spec } satisfies CreateParams,
        dedupeKey: req.name !== "" ? `${CREATE}:${account.id}:${req.name}` : undefined,
      });
    },

    async update(req, ctx) {
      const { catalog } = ctx;
      if (catalog.hasRegistry(req.registryId)) {
        const p = catalog.registry(req.registryId);
        throw p.capabilities.has("update_registries") ? configuredEntry(p, "update_registries") : unsupported(p.id, p.kind, "update_registries");
      }
      const patch = patchOf(req);
      const found = await locate(req.registryId, ctx.signal, catalog);
      if (!found) throw notFound("registry", req.registryId);
      const account = accountWith(found.account.id, "update_registries", catalog);
      const fingerprint = createHash("sha256").update(JSON.stringify(patch)).digest("hex").slice(0, 16);
      return submit(ctx, UPDATE, {
        resourceId: req.registryId,
        account: account.id,
        description: `Update registry ${req.registryId} in ${account.id}`,
        metadata: anyPack(UpdateRegistryMetadataSchema, create(UpdateRegistryMetadataSchema, { registryId: req.registryId })),
        params: { account: account.id, registryId: req.registryId, patch } satisfies UpdateParams,
        dedupeKey: `${UPDATE}:${req.registryId}:${fingerprint}`,
      });
    },

    async delete(req, ctx) {
      const { catalog } = ctx;
      if (catalog.hasRegistry(req.registryId)) {
        const p = catalog.registry(req.registryId);
        throw p.capabilities.has("delete_registries") ? configuredEntry(p, "delete_registries") : unsupported(p.id, p.kind, "delete_registries");
      }
      const found = await locate(req.registryId, ctx.signal, catalog);
      if (!found) throw notFound("registry", req.registryId);
      const account = accountWith(found.account.id, "delete_registries", catalog);
      return submit(ctx, DELETE, {
        resourceId: req.registryId,
        account: account.id,
        description: `Delete registry ${req.registryId} in ${account.id}`,
        metadata: anyPack(DeleteRegistryMetadataSchema, create(DeleteRegistryMetadataSchema, { registryId: req.registryId })),
        params: { account: account.id, registryId: req.registryId } satisfies DeleteParams,
        dedupeKey: `${DELETE}:${req.registryId}`,
      });
    },
  });
}

/** The update mask's fields (snake_case); an empty mask means every field the request sets. */
function patchOf(req: UpdateRegistryRequest): RegistryPatch {
  const paths = req.updateMask?.paths ?? [];
  for (const f of paths) if (!UPDATABLE.includes(f)) throw invalidField("update_mask", `cannot update ${f}; updatable: ${UPDATABLE.join(", ")}`);
  const wants = (f: string, set: boolean) => (paths.length === 0 ? set : paths.includes(f));
  const patch: RegistryPatch = {};
  if (wants("name", req.name !== "")) patch.name = req.name;
  if (wants("labels", Object.keys(req.labels).length > 0)) patch.labels = { ...req.labels };
  if (wants("garbage_collection_schedule", req.garbageCollectionSchedule !== undefined)) {
    patch.garbageCollectionSchedule = { days: [...(req.garbageCollectionSchedule?.days ?? [])], time: req.garbageCollectionSchedule?.time ?? "" };
  }
  if (wants("api_subnet_allow_list", req.apiSubnetAllowList.length > 0)) patch.apiSubnetAllowList = [...req.apiSubnetAllowList];
  if (Object.keys(patch).length === 0) throw invalidField("update_mask", "nothing to update: set a field or name it in update_mask");
  return patch;
}
