// One image's details, deleting it and removing one of its tags: the confirmation, the operation followed
// to its end, and the list and operations reloaded after it.
import { type Image, type Registry } from "../../src/client/index.js";
import { h } from "./dom.js";
import { describeMediaType, formatBytes, shortDigest, toDate } from "./format.js";
import { listing, loadImages, registries, turnPage } from "./images.js";
import { clearError, showError } from "./messages.js";
import { loadOperations } from "./operations.js";
import { confirmChange, followChange } from "./operation-status.js";
import { api } from "./session.js";
import { ui } from "./ui.js";
import { tagList, timeElement } from "./views.js";

/** Image ids with a delete in flight, so their Delete button stays disabled. */
const deleting = new Set<string>();
let shownImage: Image | undefined;
let detailsOpener: HTMLElement | undefined;
/** Counts detail requests, so a slow answer for an image opened earlier cannot replace a later one. */
let detailsRequest = 0;

function registryOf(image: Image): Registry | undefined {
  return registries.get(image.name.split("/", 1)[0]);
}

function definition(term: string, ...value: Array<Node | string>): HTMLElement[] {
  return [h("dt", {}, term), h("dd", {}, ...value)];
}

function blobTable(caption: string, rows: Array<{ label: string; digest: string; mediaType: string; size: bigint }>): HTMLElement {
  return h(
    "table",
    { class: "blobs" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "#"), h("th", { scope: "col" }, "Digest"), h("th", { scope: "col" }, "Type"), h("th", { scope: "col", class: "num" }, "Size"))),
    h(
      "tbody",
      {},
      ...rows.map((row) =>
        h(
          "tr",
          {},
          h("td", {}, row.label),
          h("td", {}, h("code", { title: row.digest }, shortDigest(row.digest))),
          h("td", {}, describeMediaType(row.mediaType)),
          h("td", { class: "num" }, formatBytes(row.size)),
        ),
      ),
    ),
  );
}

function renderDetails(image: Image): void {
  const registry = registryOf(image);
  ui.detailsHeading.textContent = image.name;
  const facts = [
    ...definition("Digest", h("code", { class: "digest" }, image.digest)),
    ...definition("Tags", tagsWithRemove(image, registry === undefined || registry.capabilities.includes("delete_tags"))),
    ...definition("Size", `${formatBytes(image.compressedSize)} compressed (${image.compressedSize.toLocaleString()} bytes)`),
    ...definition("Created", timeElement(toDate(image.createdAt))),
    ...definition("Type", describeMediaType(image.mediaType)),
  ];
  if (registry) facts.push(...definition("Registry", `${registry.id} (${registry.provider})`));
  const parts: HTMLElement[] = [h("dl", { class: "facts" }, ...facts)];
  const blobs = [
    ...(image.config ? [{ label: "config", digest: image.config.digest, mediaType: image.config.mediaType, size: image.config.size }] : []),
    ...image.layers.map((layer, i) => ({ label: String(i + 1), digest: layer.digest, mediaType: layer.mediaType, size: layer.size })),
  ];
  if (blobs.length > 0) parts.push(blobTable(`Config and ${image.layers.length} layer${image.layers.length === 1 ? "" : "s"}`, blobs));
  if (image.manifests.length > 0) {
    const children = image.manifests.map((m, i) => ({ label: String(i + 1), digest: m.digest, mediaType: m.mediaType, size: m.size }));
    parts.push(blobTable(`${image.manifests.length} platform manifest${image.manifests.length === 1 ? "" : "s"}`, children));
  }
  const canDelete = registry === undefined || registry.capabilities.includes("delete_images");
  if (!canDelete) parts.push(h("p", { class: "muted" }, `Registry ${registry?.id} does not support deleting images.`));
  ui.detailsBody.replaceChildren(...parts);
  ui.deleteImage.hidden = !canDelete;
  ui.deleteImage.disabled = deleting.has(image.id);
}

export async function openDetails(imageId: string, opener?: HTMLElement): Promise<void> {
  detailsOpener = opener;
  ui.details.hidden = false;
  clearError(ui.detailsError);
  ui.detailsHeading.textContent = "Loading image…";
  ui.detailsBody.replaceChildren();
  ui.deleteImage.hidden = true;
  ui.detailsHeading.focus();
  const request = ++detailsRequest;
  try {
    const image = await api.images.get({ imageId });
    if (request !== detailsRequest) return;
    shownImage = image;
    renderDetails(image);
  } catch (error) {
    if (request !== detailsRequest) return;
    shownImage = undefined;
    ui.detailsHeading.textContent = "Image";
    showError(ui.detailsError, error);
  }
}

export function closeDetails(): void {
  detailsRequest++;
  ui.details.hidden = true;
  shownImage = undefined;
  const opener = detailsOpener;
  detailsOpener = undefined;
  (opener?.isConnected ? opener : ui.imagesHeading).focus();
}

export async function deleteShownImage(): Promise<void> {
  const image = shownImage;
  if (image === undefined) return;
  const tags = image.tags.length > 0 ? ` and its tags ${image.tags.join(", ")}` : "";
  const label = `${image.name}@${shortDigest(image.digest)}`;
  if (!(await confirmChange("Delete this image?", `${label}${tags} will be removed from the registry. This cannot be undone.`, "Delete image"))) return;
  deleting.add(image.id);
  ui.deleteImage.disabled = true;
  try {
    const deleted = await followChange(() => api.images.delete({ imageId: image.id }), `Deleting ${label}`, `Deleted ${label}`, `delete ${label}`);
    if (deleted && shownImage?.id === image.id) {
      // The row that opened the details is about to go, so focus lands on the list's heading instead.
      detailsOpener = undefined;
      closeDetails();
    }
  } finally {
    deleting.delete(image.id);
    if (shownImage?.id === image.id) ui.deleteImage.disabled = false;
  }
  await Promise.all([reloadAfterDelete(), loadOperations()]);
}

/** Removes one tag of the shown image (the image and its other tags stay), then shows it again. */
async function removeTag(image: Image, tag: string): Promise<void> {
  const label = `${image.name}:${tag}`;
  const text = `The tag ${tag} will be removed from ${image.name}@${shortDigest(image.digest)}; the image and its other tags stay.`;
  if (!(await confirmChange("Remove this tag?", text, "Remove tag"))) return;
  const removed = await followChange(() => api.tags.delete({ imageId: image.id, tag }), `Removing tag ${label}`, `Removed tag ${label}`, `remove tag ${label}`);
  if (removed && shownImage?.id === image.id) await openDetails(image.id, detailsOpener);
  await Promise.all([loadImages(), loadOperations()]);
}

/** The image's tags, each with a Remove button where the registry removes single tags. */
function tagsWithRemove(image: Image, canRemove: boolean): HTMLElement {
  if (!canRemove || image.tags.length === 0) return tagList(image.tags);
  return h(
    "ul",
    { class: "tags", "aria-label": "Tags" },
    ...image.tags.map((tag) => {
      const remove = h("button", { type: "button", class: "remove-tag", "data-tag": tag, "aria-label": `Remove tag ${tag}` }, "×");
      remove.addEventListener("click", () => void removeTag(image, tag));
      return h("li", { class: "tag-item" }, h("span", { class: "tag" }, tag), remove);
    }),
  );
}

/** Reloads the current page; when the delete emptied it, steps back to the page before. */
async function reloadAfterDelete(): Promise<void> {
  await loadImages();
  if (listing.images.length === 0 && listing.tokens.length > 1) await turnPage("previous");
}
