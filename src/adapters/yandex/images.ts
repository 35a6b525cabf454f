// The images of a Yandex entry: listed (natively or sorted here), read and deleted (a Yandex Operation
// polled to its end), and Yandex images read as ImageRecords.
//
// A Yandex image is one manifest digest of a repository with its tags. Over a folder the
// repository path is Yandex's own image name ("<registry id>/<repository>"), so the registry is the
// namespace; with one registry the "<registry id>/" prefix is dropped. Without an order a listing is
// Yandex's own: `pageSize` = our page room, `pageToken` = our native cursor, `nextPageToken` the next
// one. Yandex's order_by is not documented beyond its field names, so any `order` is produced here:
// every page reads the whole listing of the scope (pageSize 1000 per request) and sorts it with
// compareImages (cost: the scope's full listing per page). getImage and deleteImage find an image
// by listing its repository, as the API looks images up by Yandex id only.
import { arr, dateOf, obj, str } from "../../core/json.js";
import { compareImages, compareStrings } from "../../core/order.js";
import type { AccountEntry, ImagePage, ListImagesQuery } from "../../core/provider.js";
import type { BlobRecord, ImageRecord } from "../../core/types.js";
import { FULL_PAGE, type YandexApi } from "./client.js";

export class YandexImages {
  constructor(
    private readonly entry: AccountEntry,
    private readonly api: YandexApi,
    private readonly folderId: string,
  ) {}

  async listImages(query: ListImagesQuery): Promise<ImagePage> {
    const limit = Math.max(1, Math.min(FULL_PAGE, query.limit));
    const names = [query.repository, query.nameEquals].filter((n): n is string => n !== undefined);
    if (names.some((n) => n !== names[0] || n === "")) return { images: [], done: true };
    const scope = this.scopeQuery(names[0]);
    if (query.order.length === 0) {
      const doc = await this.api.get("images", { ...scope, pageSize: String(limit), pageToken: query.nativeCursor }, "listing images", query.signal);
      const images = this.imagesOf(doc);
      const next = str(doc.nextPageToken);
      return next === "" ? { images, done: true } : { images, done: false, nativeCursor: next };
    }
    const all = await this.allImages(scope, query.signal);
    const rest = all.filter((i) => query.after === undefined || compareImages(i, query.after, query.order) > 0).sort((a, b) => compareImages(a, b, query.order));
    return { images: rest.slice(0, limit), done: rest.length <= limit };
  }

  async getImage(repository: string, digest: string, signal: AbortSignal): Promise<ImageRecord | undefined> {
    return (await this.find(repository, digest, signal))?.image;
  }

  async deleteImage(repository: string, digest: string, signal: AbortSignal): Promise<void> {
    const found = await this.find(repository, digest, signal);
    if (found === undefined) return;
    const reply = await this.api.send({ method: "DELETE", path: `images/${encodeURIComponent(found.yandexId)}`, accept: [404], doing: `deleting image ${repository}@${digest}` }, signal);
    if (reply.status === 404) return;
    await this.api.finish(reply.body, `deleting image ${repository}@${digest}`, signal, true);
  }

  /** The listing scope by precedence: one repository, else the pinned registry, else the folder. */
  private scopeQuery(repository: string | undefined): Record<string, string> {
    if (repository !== undefined) return { repositoryName: this.entry.pinned !== undefined ? `${this.entry.pinned}/${repository}` : repository };
    return this.entry.pinned !== undefined ? { registryId: this.entry.pinned } : { folderId: this.folderId };
  }

  private async allImages(scope: Record<string, string>, signal: AbortSignal): Promise<ImageRecord[]> {
    const out: ImageRecord[] = [];
    await this.api.pages("images", scope, "images", "listing images", signal, (i) => {
      const image = this.imageRecord(i);
      if (image) out.push(image);
    });
    return out;
  }

  /** The image of a repository with this digest, and its Yandex id; undefined when there is none. */
  private async find(repository: string, digest: string, signal: AbortSignal): Promise<{ image: ImageRecord; yandexId: string } | undefined> {
    if (repository === "") return undefined;
    let found: { image: ImageRecord; yandexId: string } | undefined;
    await this.api.pages("images", this.scopeQuery(repository), "images", `looking up ${repository}@${digest}`, signal, (i) => {
      if (i.digest !== digest) return false;
      const image = this.imageRecord(i);
      if (image && image.repository === repository) found = { image, yandexId: str(i.id) };
      return found !== undefined;
    });
    return found;
  }

  private imagesOf(doc: Record<string, unknown>): ImageRecord[] {
    return arr(doc.images)
      .map((i) => this.imageRecord(obj(i)))
      .filter((i): i is ImageRecord => i !== undefined);
  }

  private imageRecord(i: Record<string, unknown>): ImageRecord | undefined {
    const name = str(i.name);
    const digest = str(i.digest);
    if (name === "" || digest === "") return undefined;
    const prefix = this.entry.pinned !== undefined ? `${this.entry.pinned}/` : "";
    const record: ImageRecord = {
      registryId: this.entry.id,
      repository: prefix !== "" && name.startsWith(prefix) ? name.slice(prefix.length) : name,
      digest,
      // The Yandex Image has no media type field.
      mediaType: "",
      tags: arr(i.tags).filter((t): t is string => typeof t === "string").sort(compareStrings),
      layers: arr(i.layers).map((l) => blobOf(obj(l))),
      manifests: [],
      compressedSize: int64(i.compressedSize),
    };
    if (i.config && typeof i.config === "object") record.config = blobOf(obj(i.config));
    const created = dateOf(i.createdAt);
    if (created) record.createdAtMs = created.getTime();
    return record;
  }
}

function blobOf(b: Record<string, unknown>): BlobRecord {
  const blob: BlobRecord = { digest: str(b.digest), size: int64(b.size), mediaType: "" };
  const urls = arr(b.urls).filter((u): u is string => typeof u === "string");
  if (urls.length > 0) blob.urls = urls;
  return blob;
}

/** int64 arrives as a JSON string (proto3 JSON); a number is accepted too. */
function int64(v: unknown): number {
  const n = typeof v === "string" ? Number(v) : typeof v === "number" ? v : 0;
  return Number.isFinite(n) ? n : 0;
}
