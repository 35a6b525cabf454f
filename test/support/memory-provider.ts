// An in-memory Provider for testing the paging logic: images held in a map, native order with a
// keyset cursor, ordered listing with `after`, and switches to fail, hang, hold at a gate or answer short.

import { Code, notFound, providerError, RegplaneError } from "../../src/core/errors.js";
import { compareImages } from "../../src/core/order.js";
import type { ImagePage, ListImagesQuery, ListNamespacesQuery, ListRepositoriesQuery, Provider } from "../../src/core/provider.js";
import type { Capability, ImageRecord, NamespaceRecord, RegistryRecord, RepositoryRecord } from "../../src/core/types.js";
import type { Gate } from "./gate.js";

/** Calls in flight across every provider sharing it, to check that registries are asked in parallel. */
export class ConcurrencyProbe {
  inFlight = 0;
  maxInFlight = 0;

  enter(): void {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
  }

  leave(): void {
    this.inFlight--;
  }
}

export function testImage(registryId: string, repository: string, digest: string, createdAt?: number): ImageRecord {
  const image: ImageRecord = {
    registryId,
    repository,
    digest,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    tags: [],
    layers: [],
    manifests: [],
    compressedSize: 0,
  };
  if (createdAt !== undefined) image.createdAtMs = createdAt;
  return image;
}

/** The memory provider's native order: digest, then repository (deliberately not the API order). */
function compareNative(a: ImageRecord, b: ImageRecord): number {
  if (a.digest !== b.digest) return a.digest < b.digest ? -1 : 1;
  return a.repository < b.repository ? -1 : a.repository > b.repository ? 1 : 0;
}

export class MemoryProvider implements Provider {
  readonly kind = "memory";
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>(["list_images", "delete_images", "list_namespaces", "delete_namespaces"]);
  private readonly images = new Map<string, ImageRecord>();
  private gate: Gate | undefined;
  private gateFromCall = 1;
  private failures = 0;
  private down = false;
  private hang = false;
  private maxPage = Infinity;
  calls = 0;
  inFlight = 0;
  maxInFlight = 0;
  readonly queries: Array<Omit<ListImagesQuery, "signal">> = [];

  constructor(
    readonly id: string,
    images: Iterable<ImageRecord> = [],
    private readonly probe?: ConcurrencyProbe,
  ) {
    for (const image of images) this.put(image);
  }

  /** Adds or replaces the image with this repository and digest. */
  put(image: ImageRecord): void {
    this.images.set(`${image.repository}@${image.digest}`, { ...image, registryId: this.id });
  }

  remove(repository: string, digest: string): boolean {
    return this.images.delete(`${repository}@${digest}`);
  }

  all(): ImageRecord[] {
    return [...this.images.values()].sort(compareNative);
  }

  /** Calls from the `fromCall`-th on (1-based, counting every call so far) wait at `gate` first, honouring their signal. */
  setGate(gate: Gate | undefined, fromCall = 1): void {
    this.gate = gate;
    this.gateFromCall = fromCall;
  }

  /** The next `n` calls fail with UNAVAILABLE. */
  failNext(n: number): void {
    this.failures = n;
  }

  /** While down, every call fails with UNAVAILABLE. */
  setDown(down: boolean): void {
    this.down = down;
  }

  /** While hanging, calls never settle, even when their signal aborts. */
  setHang(hang: boolean): void {
    this.hang = hang;
  }

  /** Answers at most `n` images per call whatever the limit, like a provider with its own page cap. */
  setMaxPage(n: number): void {
    this.maxPage = n;
  }

  describe(): RegistryRecord {
    return {
      id: this.id,
      name: this.id,
      provider: this.kind,
      endpoint: "memory",
      location: "",
      hostname: "",
      status: "active",
      labels: {},
      capabilities: [...this.capabilities],
    };
  }

  async listImages(query: ListImagesQuery): Promise<ImagePage> {
    const { signal, ...logged } = query;
    this.queries.push(logged);
    this.calls++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.probe?.enter();
    try {
      if (this.hang) await new Promise<never>(() => {});
      if (this.gate && this.calls >= this.gateFromCall) await this.gate.pass(signal);
      if (this.down || this.failures > 0) {
        if (this.failures > 0) this.failures--;
        throw providerError({ registryId: this.id, provider: this.kind, httpStatus: 503, message: "service unavailable" });
      }
      return this.page(query);
    } finally {
      this.inFlight--;
      this.probe?.leave();
    }
  }

  private page(query: ListImagesQuery): ImagePage {
    let images = [...this.images.values()];
    if (query.repository !== undefined) images = images.filter((i) => i.repository === query.repository);
    if (query.nameEquals !== undefined) images = images.filter((i) => i.repository === query.nameEquals);
    const limit = Math.min(query.limit, this.maxPage);
    if (query.order.length > 0) {
      images.sort((a, b) => compareImages(a, b, query.order));
      const after = query.after;
      if (after) images = images.filter((i) => compareImages(i, after, query.order) > 0);
      return { images: images.slice(0, limit).map(copy), done: images.length <= limit };
    }
    images.sort(compareNative);
    if (query.nativeCursor !== undefined) {
      const last = decodeNativeCursor(query.nativeCursor);
      images = images.filter((i) => compareNative(i, last) > 0);
    }
    const page = images.slice(0, limit).map(copy);
    const done = images.length <= limit;
    const lastImage = page[page.length - 1];
    return { images: page, done, nativeCursor: done || !lastImage ? undefined : encodeNativeCursor(lastImage) };
  }

  async getImage(repository: string, digest: string): Promise<ImageRecord | undefined> {
    const image = this.images.get(`${repository}@${digest}`);
    return image && copy(image);
  }

  async deleteImage(repository: string, digest: string): Promise<void> {
    this.remove(repository, digest);
  }

  async listNamespaces(query: ListNamespacesQuery): Promise<{ namespaces: NamespaceRecord[]; done: boolean }> {
    let names = [...new Set([...this.images.values()].map((i) => i.repository.split("/")[0]))].sort();
    if (query.nameEquals !== undefined) names = names.filter((n) => n === query.nameEquals);
    const after = query.after;
    if (after !== undefined) names = names.filter((n) => n > after);
    const page = names.slice(0, query.limit);
    return { namespaces: page.map((name) => this.namespace(name)), done: names.length <= query.limit };
  }

  async getNamespace(name: string): Promise<NamespaceRecord | undefined> {
    return [...this.images.values()].some((i) => i.repository.split("/")[0] === name) ? this.namespace(name) : undefined;
  }

  private namespace(name: string): NamespaceRecord {
    const images = [...this.images.values()].filter((i) => i.repository.split("/")[0] === name);
    return {
      registryId: this.id,
      name,
      description: "",
      visibility: "unspecified",
      imageCount: images.length,
      sizeBytes: images.reduce((sum, i) => sum + i.compressedSize, 0),
    };
  }

  /** Repositories are the paths its images are in, like a registry where a push makes the repository. */
  async listRepositories(query: ListRepositoriesQuery): Promise<{ repositories: RepositoryRecord[]; done: boolean }> {
    query.signal.throwIfAborted();
    let names = [...new Set([...this.images.values()].map((i) => i.repository))].sort();
    if (query.nameEquals !== undefined) names = names.filter((n) => n === query.nameEquals);
    const after = query.after;
    if (after !== undefined) names = names.filter((n) => n > after);
    const page = names.slice(0, query.limit);
    return { repositories: page.map((name) => ({ registryId: this.id, name })), done: names.length <= query.limit };
  }

  async getRepository(name: string, signal: AbortSignal): Promise<RepositoryRecord | undefined> {
    signal.throwIfAborted();
    return [...this.images.values()].some((i) => i.repository === name) ? { registryId: this.id, name } : undefined;
  }

  async deleteNamespace(name: string): Promise<void> {
    if (!(await this.getNamespace(name))) throw notFound("namespace", name);
    for (const [k, i] of this.images) if (i.repository.split("/")[0] === name) this.images.delete(k);
  }
}

function copy(image: ImageRecord): ImageRecord {
  return { ...image, tags: [...image.tags], layers: [...image.layers], manifests: [...image.manifests] };
}

function encodeNativeCursor(image: ImageRecord): string {
  return `${image.digest} ${image.repository}`;
}

function decodeNativeCursor(cursor: string): ImageRecord {
  const space = cursor.indexOf(" ");
  if (space < 0) throw new RegplaneError(Code.INVALID_ARGUMENT, "bad cursor");
  return testImage("", cursor.slice(space + 1), cursor.slice(0, space));
}
