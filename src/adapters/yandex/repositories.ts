// The repositories of a Yandex entry: listed, read, created and deleted over the REST API's
// /repositories, mutations through Yandex Operations polled to their end. A repository is named as
// images name it: Yandex's own name ("<registry id>/<path>") over a folder, the path alone in a
// pinned registry. Yandex's order_by is not documented, so a listing reads the scope's names in full
// and keeps the `limit` + 1 smallest after the cursor. The REST API reads a repository by id only
// (GetByName has no HTTP route), so a name is looked up by listing with filter name="…".
import { Code, invalidField, RegplaneError } from "../../core/errors.js";
import { str } from "../../core/json.js";
import { RepositoriesByName } from "../../core/listing.js";
import { compareStrings } from "../../core/order.js";
import type { AccountEntry } from "../../core/provider.js";
import type { RepositoryRecord } from "../../core/types.js";
import type { YandexApi, YandexClient } from "./client.js";
import { YANDEX_ID, type YandexRegistries } from "./registries.js";

/** CreateRepositoryRequest.name's pattern (yandex-cloud/cloudapi repository_service.proto). */
const YANDEX_REPOSITORY = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;
const MAX_NAME = 255;

export class YandexRepositories extends RepositoriesByName {
  constructor(
    private readonly entry: AccountEntry,
    private readonly api: YandexApi,
    /** For its abort errors; calls go through `api`. */
    private readonly client: YandexClient,
    private readonly registries: YandexRegistries,
    private readonly folderId: string,
  ) {
    super();
  }

  /** The `limit` smallest names after `after` in the scope, which Yandex lists in no documented order. */
  protected async walk(after: string | undefined, limit: number, signal: AbortSignal): Promise<{ repositories: RepositoryRecord[]; done: boolean }> {
    const keep = limit + 1;
    let names: string[] = [];
    await this.api.pages("repositories", this.scope(), "repositories", "listing repositories", signal, (r) => {
      const name = this.ourName(str(r.name));
      if (name === undefined || (after !== undefined && name <= after)) return;
      names.push(name);
      // Sorted and cut now and then, so a large registry costs memory for one page only.
      if (names.length >= 4 * keep) names = smallest(names, keep);
    });
    names = smallest(names, keep);
    const page = names.slice(0, keep - 1).map((name) => ({ registryId: this.entry.id, name }));
    return { repositories: page, done: names.length < keep };
  }

  async getRepository(name: string, signal: AbortSignal): Promise<RepositoryRecord | undefined> {
    if (signal.aborted) throw this.client.aborted(signal, "reading a repository");
    if (this.yandexName(name) === undefined) return undefined;
    return (await this.find(name, signal)) === undefined ? undefined : { registryId: this.entry.id, name };
  }

  /** An empty repository; ALREADY_EXISTS when Yandex has one of this name. */
  async createRepository(name: string, signal: AbortSignal): Promise<RepositoryRecord> {
    if (signal.aborted) throw this.client.aborted(signal, "creating a repository");
    const full = this.checkedName(name);
    if (this.entry.pinned === undefined) {
      // The name's registry must be this folder's: a create would otherwise reach outside the account.
      const registryId = full.slice(0, full.indexOf("/"));
      if ((await this.registries.getRegistry(registryId, signal)) === undefined) {
        throw new RegplaneError(Code.NOT_FOUND, `registry ${JSON.stringify(this.entry.id)} (yandex): folder ${this.folderId} has no registry ${registryId}`, {
          errorInfo: { reason: "PROVIDER_REGISTRY_NOT_FOUND", metadata: { registry_id: this.entry.id, provider: "yandex" } },
        });
      }
    }
    const doing = `creating repository ${name}`;
    const reply = await this.api.send({ method: "POST", path: "repositories", json: { name: full }, doing }, signal);
    await this.api.finish(reply.body, doing, signal, false);
    return { registryId: this.entry.id, name };
  }

  /**
   * Deletes the repository's images, then the repository; already gone is success. Whether Yandex
   * deletes a repository that still holds images is not documented, so it is emptied first; a run
   * cut short leaves fewer images, and running it again finishes the work.
   */
  async deleteRepository(name: string, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw this.client.aborted(signal, "deleting a repository");
    const full = this.checkedName(name);
    const repositoryId = await this.find(name, signal);
    if (repositoryId === undefined) return;
    const imageIds: string[] = [];
    await this.api.pages("images", { repositoryName: full }, "images", `listing images of ${name}`, signal, (i) => {
      if (i.name === full && str(i.id) !== "") imageIds.push(str(i.id));
    });
    for (const imageId of imageIds) {
      const doing = `deleting image ${imageId} of repository ${name}`;
      const reply = await this.api.send({ method: "DELETE", path: `images/${encodeURIComponent(imageId)}`, accept: [404], doing }, signal);
      if (reply.status !== 404) await this.api.finish(reply.body, doing, signal, true);
    }
    const doing = `deleting repository ${name}`;
    const reply = await this.api.send({ method: "DELETE", path: `repositories/${encodeURIComponent(repositoryId)}`, accept: [404], doing }, signal);
    if (reply.status !== 404) await this.api.finish(reply.body, doing, signal, true);
  }

  /** The Yandex id of the repository of this name in our scope; undefined when there is none. */
  private async find(name: string, signal: AbortSignal): Promise<string | undefined> {
    const full = this.yandexName(name)!;
    let found: string | undefined;
    await this.api.pages("repositories", { ...this.scope(), filter: `name="${full}"` }, "repositories", `looking up repository ${name}`, signal, (r) => {
      if (r.name === full && str(r.id) !== "") found = str(r.id);
      return found !== undefined;
    });
    return found;
  }

  /** The pinned registry, else the folder (registryId wins over folderId, so only one is sent). */
  private scope(): Record<string, string> {
    return this.entry.pinned !== undefined ? { registryId: this.entry.pinned } : { folderId: this.folderId };
  }

  /** Yandex's name for one of ours; undefined when ours cannot name a Yandex repository. */
  private yandexName(name: string): string | undefined {
    const full = this.entry.pinned !== undefined ? `${this.entry.pinned}/${name}` : name;
    const slash = full.indexOf("/");
    if (full.length > MAX_NAME || slash <= 0 || !YANDEX_ID.test(full.slice(0, slash)) || !YANDEX_REPOSITORY.test(full)) return undefined;
    return full;
  }

  private checkedName(name: string): string {
    const full = this.yandexName(name);
    if (full === undefined) {
      const form = this.entry.pinned !== undefined ? "a repository path" : `"<registry id>/<path>"`;
      throw invalidField("name", `${JSON.stringify(name.slice(0, 300))} is not ${form} Yandex accepts (lowercase letters and digits, parts joined by . _ - or /)`);
    }
    return full;
  }

  /** Ours for one of Yandex's names: the pinned registry's prefix dropped. */
  private ourName(full: string): string | undefined {
    if (full === "") return undefined;
    if (this.entry.pinned === undefined) return full;
    const prefix = `${this.entry.pinned}/`;
    return full.startsWith(prefix) && full.length > prefix.length ? full.slice(prefix.length) : undefined;
  }

  protected aborted(signal: AbortSignal, doing: string): Error {
    return this.client.aborted(signal, doing);
  }
}

/** The `n` smallest names in code-unit order, without duplicates. */
function smallest(names: string[], n: number): string[] {
  return [...new Set(names)].sort(compareStrings).slice(0, n);
}
