// The registries of a Yandex folder: listed, read, and created, updated and deleted through Yandex
// Operations polled to their end, and read as RegistryRecords.
import { invalidField } from "../../core/errors.js";
import { dateOf, obj, str } from "../../core/json.js";
import { accountRegistry } from "../../core/listing.js";
import type { RegistryPatch, RegistryRecord, RegistrySpec, RegistryStatus } from "../../core/types.js";
import type { YandexApi } from "./client.js";

/** A Yandex registry id (crp…). */
export const YANDEX_ID = /^[a-z0-9]{1,50}$/;

export class YandexRegistries {
  constructor(
    private readonly api: YandexApi,
    private readonly folderId: string,
    /** Host images are pulled from. */
    private readonly hostname: string,
  ) {}

  async listRegistries(signal: AbortSignal): Promise<RegistryRecord[]> {
    const out: RegistryRecord[] = [];
    await this.api.pages("registries", { folderId: this.folderId }, "registries", "listing registries", signal, (r) => {
      out.push(this.registryRecord(r));
    });
    return out;
  }

  async getRegistry(registryId: string, signal: AbortSignal): Promise<RegistryRecord | undefined> {
    if (!YANDEX_ID.test(registryId)) return undefined;
    const reply = await this.api.send({ method: "GET", path: `registries/${encodeURIComponent(registryId)}`, accept: [404], doing: `reading registry ${registryId}` }, signal);
    if (reply.status === 404) return undefined;
    const registry = obj(reply.body);
    // A registry of another folder is not this account's.
    return registry.folderId === this.folderId ? this.registryRecord(registry) : undefined;
  }

  async createRegistry(spec: RegistrySpec, signal: AbortSignal): Promise<RegistryRecord> {
    if (spec.location) throw invalidField("location", "Yandex registries take no location");
    if (spec.garbageCollectionSchedule) throw invalidField("garbage_collection_schedule", "Yandex registries have no garbage collection schedule");
    const body: Record<string, unknown> = { folderId: this.folderId, labels: spec.labels };
    if (spec.name) body.name = spec.name;
    const reply = await this.api.send({ method: "POST", path: "registries", json: body, doing: `creating registry ${spec.name}` }, signal);
    return this.registryRecord(await this.api.finish(reply.body, `creating registry ${spec.name}`, signal, false));
  }

  async updateRegistry(registryId: string, patch: RegistryPatch, signal: AbortSignal): Promise<RegistryRecord> {
    if (patch.garbageCollectionSchedule !== undefined || patch.apiSubnetAllowList !== undefined) {
      throw invalidField("update_mask", "Yandex registries have no garbage collection schedule or API subnet allow list; updatable: name, labels");
    }
    const paths: string[] = [];
    const body: Record<string, unknown> = {};
    if (patch.name !== undefined) {
      paths.push("name");
      body.name = patch.name;
    }
    if (patch.labels !== undefined) {
      paths.push("labels");
      body.labels = patch.labels;
    }
    // A FieldMask in JSON is one comma-separated string of camelCase paths.
    body.updateMask = paths.join(",");
    const reply = await this.api.send({ method: "PATCH", path: `registries/${encodeURIComponent(registryId)}`, json: body, doing: `updating registry ${registryId}` }, signal);
    return this.registryRecord(await this.api.finish(reply.body, `updating registry ${registryId}`, signal, false));
  }

  async deleteRegistry(registryId: string, signal: AbortSignal): Promise<void> {
    const reply = await this.api.send({ method: "DELETE", path: `registries/${encodeURIComponent(registryId)}`, accept: [404], doing: `deleting registry ${registryId}` }, signal);
    if (reply.status === 404) return;
    await this.api.finish(reply.body, `deleting registry ${registryId}`, signal, true);
  }

  private registryRecord(r: Record<string, unknown>): RegistryRecord {
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(obj(r.labels))) if (typeof v === "string") labels[k] = v;
    return accountRegistry({
      id: str(r.id),
      name: str(r.name),
      provider: "yandex",
      endpoint: this.api.host,
      location: "",
      hostname: this.hostname,
      status: statusOf(str(r.status)),
      labels,
      createdAt: dateOf(r.createdAt),
    });
  }
}

function statusOf(status: string): RegistryStatus {
  switch (status) {
    case "CREATING":
      return "creating";
    case "ACTIVE":
      return "active";
    case "DELETING":
      return "deleting";
    default:
      return "unspecified";
  }
}
