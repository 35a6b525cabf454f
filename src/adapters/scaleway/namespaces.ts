// Scaleway namespaces: ScalewayNamespaces lists, gets, creates, updates and deletes them, and finds
// the one a repository's first segment names.
import { invalidField, notFound } from "../../core/errors.js";
import { parseTime } from "../../core/listing.js";
import { compareStrings } from "../../core/order.js";
import type { ListNamespacesQuery } from "../../core/provider.js";
import type { NamespaceRecord, Visibility } from "../../core/types.js";
import type { ScalewayClient } from "./client.js";

export interface ScwNamespace {
  id: string;
  name: string;
  description?: string;
  status?: string;
  is_public?: boolean;
  size?: number;
  image_count?: number;
  created_at?: string;
  updated_at?: string;
}

/** What the images' caches are told of a namespace change. */
export interface NamespaceChanges {
  /** A namespace was created: repository snapshots read before it miss it. */
  created(): void;
  /** A namespace was deleted (or its delete was tried), and Scaleway deletes its images with it. */
  deleted(): void;
}

export class ScalewayNamespaces {
  constructor(
    private readonly client: ScalewayClient,
    private readonly id: string,
    private readonly projectId: string,
    private readonly changes: NamespaceChanges,
  ) {}

  async listNamespaces(query: ListNamespacesQuery): Promise<{ namespaces: NamespaceRecord[]; done: boolean }> {
    const filter: Record<string, string> = { project_id: this.projectId, order_by: "name_asc" };
    if (query.nameEquals !== undefined) filter.name = query.nameEquals;
    const all = await this.client.listAll<ScwNamespace>("/namespaces", "namespaces", filter, query.signal);
    const matching = all
      .filter((n) => (query.nameEquals === undefined || n.name === query.nameEquals) && (query.after === undefined || n.name > query.after))
      .sort((a, b) => compareStrings(a.name, b.name));
    const limit = Math.max(1, query.limit);
    return { namespaces: matching.slice(0, limit).map((n) => this.namespaceRecord(n)), done: matching.length <= limit };
  }

  async getNamespace(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    const ns = await this.find(name, signal);
    return ns === undefined ? undefined : this.namespaceRecord(ns);
  }

  async createNamespace(ns: { name: string; description: string; visibility: Visibility }, signal: AbortSignal): Promise<NamespaceRecord> {
    const created = await this.client.json<ScwNamespace>(
      {
        method: "POST",
        path: "/namespaces",
        json: { name: ns.name, description: ns.description, project_id: this.projectId, is_public: ns.visibility === "public" },
        doing: `creating namespace ${ns.name}`,
      },
      signal,
    );
    this.changes.created();
    return this.namespaceRecord(created);
  }

  /** PATCH description and is_public (visibility public ↔ true, private ↔ false; Scaleway has no inherit). */
  async updateNamespace(name: string, patch: { description?: string; visibility?: Visibility }, signal: AbortSignal): Promise<NamespaceRecord> {
    if (patch.visibility === "inherit") throw invalidField("visibility", "Scaleway namespaces are public or private; they do not inherit");
    const ns = await this.find(name, signal);
    if (ns === undefined) throw notFound("namespace", `${this.id}/${name}`);
    const body: Record<string, unknown> = {};
    if (patch.description !== undefined) body.description = patch.description;
    if (patch.visibility === "public" || patch.visibility === "private") body.is_public = patch.visibility === "public";
    if (Object.keys(body).length === 0) return this.namespaceRecord(ns);
    const updated = await this.client.json<ScwNamespace>({ method: "PATCH", path: `/namespaces/${ns.id}`, json: body, doing: `updating namespace ${name}` }, signal);
    return this.namespaceRecord(updated);
  }

  /**
   * DELETE the namespace (Scaleway deletes its images with it), then wait until Scaleway no longer
   * reports it, not merely until it shows `deleting`.
   */
  async deleteNamespace(name: string, signal: AbortSignal): Promise<void> {
    try {
      const ns = await this.find(name, signal);
      if (ns === undefined) return;
      await this.client.deleteAndWait(`/namespaces/${ns.id}`, `namespace ${name}`, signal);
    } finally {
      this.changes.deleted();
    }
  }

  /** The Scaleway namespace named `name` in the project, whatever its status. */
  async find(name: string, signal: AbortSignal): Promise<ScwNamespace | undefined> {
    if (name === "" || name.includes("/")) return undefined;
    const found = await this.client.listAll<ScwNamespace>("/namespaces", "namespaces", { project_id: this.projectId, name }, signal);
    return found.find((n) => n.name === name);
  }

  private namespaceRecord(ns: ScwNamespace): NamespaceRecord {
    const record: NamespaceRecord = {
      registryId: this.id,
      name: ns.name,
      description: ns.description ?? "",
      visibility: ns.is_public === true ? "public" : "private",
      imageCount: typeof ns.image_count === "number" ? ns.image_count : 0,
      sizeBytes: typeof ns.size === "number" ? ns.size : 0,
    };
    const created = parseTime(ns.created_at);
    const updated = parseTime(ns.updated_at);
    if (created) record.createdAt = created;
    if (updated) record.updatedAt = updated;
    return record;
  }
}
