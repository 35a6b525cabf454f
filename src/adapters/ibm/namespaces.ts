// IBM namespaces: IbmNamespaces lists, gets, creates and deletes them (IBM has no namespace update).
import { Code, RegplaneError, invalidField } from "../../core/errors.js";
import { compareStrings } from "../../core/order.js";
import type { ListNamespacesQuery } from "../../core/provider.js";
import type { NamespaceRecord, Visibility } from "../../core/types.js";
import { parseTime } from "../../core/listing.js";
import type { IbmClient } from "./client.js";

/** NamespaceDetails as IBM returns it from GET /api/v1/namespaces/details. */
interface NamespaceDetails {
  name?: unknown;
  created_date?: unknown;
  updated_date?: unknown;
  resource_group?: unknown;
}

/** What the images' caches are told of a namespace change. */
export interface NamespaceChanges {
  /** A namespace was deleted (or its delete was tried), and IBM deleted its images with it. */
  deleted(): void;
}

/** IBM namespace names: 4–30 of a-z 0-9 - _, starting and ending with a letter or digit. */
const NAMESPACE_NAME = /^[a-z0-9][a-z0-9_-]{2,28}[a-z0-9]$/;

export class IbmNamespaces {
  constructor(
    private readonly client: IbmClient,
    private readonly id: string,
    /** Resource group id sent as X-Auth-Resource-Group when creating namespaces. */
    private readonly resourceGroup: string | undefined,
    private readonly changes: NamespaceChanges,
  ) {}

  async listNamespaces(query: ListNamespacesQuery): Promise<{ namespaces: NamespaceRecord[]; done: boolean }> {
    const all = await this.namespaceDetails(query.signal);
    const matching = all
      .filter((n) => (query.nameEquals === undefined || n.name === query.nameEquals) && (query.after === undefined || n.name > query.after))
      .sort((a, b) => compareStrings(a.name, b.name));
    const limit = Math.max(1, query.limit);
    return { namespaces: matching.slice(0, limit), done: matching.length <= limit };
  }

  async getNamespace(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    return (await this.namespaceDetails(signal)).find((n) => n.name === name);
  }

  /**
   * PUT /api/v1/namespaces/{name} (with X-Auth-Resource-Group when a resourceGroup is configured).
   * IBM namespaces have no description and cannot be public, so asking for either is refused.
   */
  async createNamespace(ns: { name: string; description: string; visibility: Visibility }, signal: AbortSignal): Promise<NamespaceRecord> {
    if (!NAMESPACE_NAME.test(ns.name)) {
      throw invalidField("name", "IBM namespace names are 4 to 30 characters of a-z, 0-9, - and _, starting and ending with a letter or digit");
    }
    if (ns.description !== "") throw invalidField("description", "IBM namespaces have no description; leave it empty");
    if (ns.visibility === "public") {
      throw new RegplaneError(Code.FAILED_PRECONDITION, `registry ${JSON.stringify(this.id)} (ibm) cannot make a namespace public`, {
        errorInfo: { reason: "CAPABILITY_UNSUPPORTED", metadata: { registry_id: this.id, provider: this.client.provider, capability: "public_namespaces" } },
      });
    }
    if ((await this.getNamespace(ns.name, signal)) !== undefined) {
      throw new RegplaneError(Code.ALREADY_EXISTS, `namespace ${JSON.stringify(`${this.id}/${ns.name}`)} already exists`, {
        errorInfo: { reason: "NAMESPACE_ALREADY_EXISTS", metadata: { registry_id: this.id, name: ns.name } },
      });
    }
    const headers: Record<string, string> = {};
    if (this.resourceGroup !== undefined) headers["x-auth-resource-group"] = this.resourceGroup;
    const reply = await this.client.call({ method: "PUT", path: `/api/v1/namespaces/${encodeURIComponent(ns.name)}`, headers }, signal);
    if (reply.status === 409) {
      // Namespace names are unique across every account of a region.
      throw new RegplaneError(Code.ALREADY_EXISTS, `namespace name ${JSON.stringify(ns.name)} is taken in this IBM region (by another account)`, {
        errorInfo: { reason: "NAMESPACE_ALREADY_EXISTS", metadata: { registry_id: this.id, name: ns.name } },
      });
    }
    if (reply.status !== 200 && reply.status !== 201) throw this.client.failure(reply, `creating namespace ${ns.name}`);
    const created = await this.getNamespace(ns.name, signal);
    return created ?? { registryId: this.id, name: ns.name, description: "", visibility: "private", imageCount: 0, sizeBytes: 0, createdAt: new Date() };
  }

  /**
   * DELETE /api/v1/namespaces/{name}. IBM also deletes every image in the namespace (they go to its
   * trash); a namespace that is already gone counts as deleted.
   */
  async deleteNamespace(name: string, signal: AbortSignal): Promise<void> {
    try {
      const reply = await this.client.call({ method: "DELETE", path: `/api/v1/namespaces/${encodeURIComponent(name)}` }, signal);
      if (reply.status === 404 || (reply.status >= 200 && reply.status < 300)) return;
      throw this.client.failure(reply, `deleting namespace ${name}`);
    } finally {
      this.changes.deleted();
    }
  }

  private async namespaceDetails(signal: AbortSignal): Promise<NamespaceRecord[]> {
    const details = await this.client.json<unknown>({ method: "GET", path: "/api/v1/namespaces/details", doing: "listing namespaces" }, signal);
    if (!Array.isArray(details)) throw this.client.badResponse("the namespace listing is not a JSON array");
    const out: NamespaceRecord[] = [];
    for (const d of details as NamespaceDetails[]) {
      if (typeof d?.name !== "string" || d.name === "") continue;
      // IBM namespaces are private (only IBM's own images are public) and carry no description.
      const record: NamespaceRecord = { registryId: this.id, name: d.name, description: "", visibility: "private", imageCount: 0, sizeBytes: 0 };
      const created = parseTime(d.created_date);
      const updated = parseTime(d.updated_date);
      if (created) record.createdAt = created;
      if (updated) record.updatedAt = updated;
      out.push(record);
    }
    return out;
  }
}
