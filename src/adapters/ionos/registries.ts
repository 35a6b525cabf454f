// The registries of an IONOS contract: listed, read, created (waited on until IONOS is done with them),
// updated and deleted over the REST API, and read as RegistryRecords.
import { arr, dateOf, obj, str } from "../../core/json.js";
import { invalidField } from "../../core/errors.js";
import { sleep } from "../../core/resilience.js";
import { accountRegistry } from "../../core/listing.js";
import type { GarbageCollectionSchedule, RegistryPatch, RegistryRecord, RegistrySpec, RegistryStatus } from "../../core/types.js";
import { MAX_PAGES, type IonosClient } from "./client.js";

/** An IONOS registry id. */
export const REGISTRY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class IonosRegistries {
  constructor(
    private readonly client: IonosClient,
    private readonly createTimeoutMs: number,
  ) {}

  async listRegistries(signal: AbortSignal): Promise<RegistryRecord[]> {
    return (await this.fetchRegistries(undefined, signal)).map((r) => this.registryRecord(r));
  }

  async getRegistry(registryId: string, signal: AbortSignal): Promise<RegistryRecord | undefined> {
    if (!REGISTRY_ID.test(registryId)) return undefined;
    const reply = await this.client.send({ method: "GET", path: `registries/${encodeURIComponent(registryId)}`, accept: [404], doing: `reading registry ${registryId}` }, signal);
    return reply.status === 404 ? undefined : this.registryRecord(reply.body);
  }

  async createRegistry(spec: RegistrySpec, signal: AbortSignal): Promise<RegistryRecord> {
    if (!spec.name) throw invalidField("name", "IONOS registries need a name");
    if (!spec.location) throw invalidField("location", 'IONOS registries need a location, e.g. "de/fra"');
    if (Object.keys(spec.labels).length > 0) throw invalidField("labels", "IONOS registries have no labels");
    const properties: Record<string, unknown> = { name: spec.name, location: spec.location };
    if (spec.garbageCollectionSchedule) properties.garbageCollectionSchedule = spec.garbageCollectionSchedule;
    const reply = await this.client.send({ method: "POST", path: "registries", json: { properties }, doing: `creating registry ${spec.name}` }, signal);
    let record = this.registryRecord(reply.body);
    // Creation goes on after the 201 (the registry is BUSY and has no hostname yet): wait it out.
    const deadline = Date.now() + this.createTimeoutMs;
    for (let delay = 500; record.status === "creating" && Date.now() < deadline; delay = Math.min(delay * 2, 10_000)) {
      await sleep(delay, signal);
      record = (await this.getRegistry(record.id, signal)) ?? record;
    }
    return record;
  }

  async updateRegistry(registryId: string, patch: RegistryPatch, signal: AbortSignal): Promise<RegistryRecord> {
    if (patch.name !== undefined || patch.labels !== undefined) throw invalidField("update_mask", "IONOS registries cannot be renamed and have no labels; updatable: garbage_collection_schedule, api_subnet_allow_list");
    const body: Record<string, unknown> = {};
    if (patch.garbageCollectionSchedule !== undefined) body.garbageCollectionSchedule = patch.garbageCollectionSchedule;
    if (patch.apiSubnetAllowList !== undefined) body.apiSubnetAllowList = patch.apiSubnetAllowList;
    const reply = await this.client.send({ method: "PATCH", path: `registries/${encodeURIComponent(registryId)}`, json: body, doing: `updating registry ${registryId}` }, signal);
    return this.registryRecord(reply.body);
  }

  async deleteRegistry(registryId: string, signal: AbortSignal): Promise<void> {
    await this.client.send({ method: "DELETE", path: `registries/${encodeURIComponent(registryId)}`, accept: [404], doing: `deleting registry ${registryId}` }, signal);
  }

  /** The contract's registries as IONOS sends them (optionally filter.name), following pagination tokens to the end. */
  async fetchRegistries(name: string | undefined, signal: AbortSignal): Promise<Array<Record<string, unknown>>> {
    const out: Array<Record<string, unknown>> = [];
    const seen = new Set<string>();
    let token: string | undefined;
    for (let pages = 0; pages < MAX_PAGES; pages++) {
      const reply = await this.client.send(
        { method: "GET", path: "registries", query: { limit: 100, "pagination.token": token, "filter.name": name }, doing: "listing registries" },
        signal,
      );
      const doc = obj(reply.body);
      for (const item of arr(doc.items)) out.push(obj(item));
      // The end is not documented: an empty or missing token or next link both end the listing.
      const next = str(obj(doc.pagination).token);
      const link = str(obj(doc._links).next);
      if (next === "" || link === "" || seen.has(next)) break;
      seen.add(next);
      token = next;
    }
    return out;
  }

  private registryRecord(body: unknown): RegistryRecord {
    const r = obj(body);
    const props = obj(r.properties);
    const meta = obj(r.metadata);
    const record = accountRegistry({
      id: str(r.id),
      name: str(props.name),
      provider: "ionos",
      endpoint: this.client.host,
      location: str(props.location),
      hostname: str(props.hostname),
      status: statusOf(str(meta.state)),
      labels: {},
      createdAt: dateOf(meta.createdDate),
    });
    const gc = scheduleOf(props.garbageCollectionSchedule);
    if (gc) record.garbageCollectionSchedule = gc;
    const allow = arr(props.apiSubnetAllowList).filter((c): c is string => typeof c === "string");
    if (allow.length > 0) record.apiSubnetAllowList = allow;
    return record;
  }
}

function statusOf(state: string): RegistryStatus {
  const s = state.toLowerCase();
  if (["busy", "new", "creating", "provisioning", "deploying"].includes(s)) return "creating";
  if (["deleting", "destroying"].includes(s)) return "deleting";
  if (["running", "available", "active", "ready"].includes(s)) return "active";
  return "unspecified";
}

function scheduleOf(v: unknown): GarbageCollectionSchedule | undefined {
  if (v === null || typeof v !== "object") return undefined;
  const s = v as Record<string, unknown>;
  return { days: arr(s.days).filter((d): d is string => typeof d === "string"), time: str(s.time) };
}
