// One image's details, and deleting it: the confirmation, the delete operation followed to its end,
// and the list and operations reloaded after it.
import { operationError, waitForOperation, type Image, type Registry } from "../../src/client/index.js";
import { h } from "./dom.js";
import { describeError } from "./errors.js";
import { describeMediaType, formatBytes, shortDigest, toDate } from "./format.js";
import { listing, loadImages, registries, turnPage } from "./images.js";
import { clearError, showError } from "./messages.js";
import { loadOperations } from "./operations.js";
import { api, apiUrl } from "./session.js";
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
    ...definition("Tags", tagList(image.tags)),
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

function confirmDelete(image: Image): Promise<boolean> {
  const tags = image.tags.length > 0 ? ` and its tags ${image.tags.join(", ")}` : "";
  ui.confirmText.textContent = `${image.name}@${shortDigest(image.digest)}${tags} will be removed from the registry. This cannot be undone.`;
  ui.confirmDialog.returnValue = "";
  ui.confirmDialog.showModal();
  return new Promise((resolve) => {
    ui.confirmDialog.addEventListener("close", () => resolve(ui.confirmDialog.returnValue === "delete"), { once: true });
  });
}

function showOperationStatus(text: string, kind: "progress" | "done" | "failed", details: string[] = []): void {
  const dismiss = h("button", { type: "button", class: "dismiss", "aria-label": "Dismiss" }, "×");
  dismiss.addEventListener("click", () => {
    ui.operationStatus.hidden = true;
  });
  ui.operationStatus.className = `operation-status ${kind}`;
  ui.operationStatus.replaceChildren(h("div", {}, h("strong", {}, text), ...details.map((line) => h("p", {}, line))), dismiss);
  ui.operationStatus.hidden = false;
}

export async function deleteShownImage(): Promise<void> {
  const image = shownImage;
  if (image === undefined || !(await confirmDelete(image))) return;
  const label = `${image.name}@${shortDigest(image.digest)}`;
  deleting.add(image.id);
  ui.deleteImage.disabled = true;
  try {
    const started = await api.images.delete({ imageId: image.id });
    showOperationStatus(`Deleting ${label}…`, "progress", [`Operation ${started.id}`]);
    void loadOperations();
    const startedAt = Date.now();
    const finished = started.done
      ? started
      : await waitForOperation(api.operations, started.id, {
          onProgress: () => showOperationStatus(`Still deleting ${label}…`, "progress", [`Operation ${started.id}, ${Math.round((Date.now() - startedAt) / 1000)} s so far`]),
        });
    const failure = operationError(finished);
    if (failure) {
      const message = describeError(failure, { apiUrl });
      showOperationStatus(`Deleting ${label} failed: ${message.title}`, "failed", message.details);
    } else {
      showOperationStatus(`Deleted ${label}.`, "done", [`Operation ${finished.id} is done.`]);
      if (shownImage?.id === image.id) {
        // The row that opened the details is about to go, so focus lands on the list's heading instead.
        detailsOpener = undefined;
        closeDetails();
      }
    }
  } catch (error) {
    const message = describeError(error, { apiUrl });
    showOperationStatus(`Could not delete ${label}: ${message.title}`, "failed", message.details);
  } finally {
    deleting.delete(image.id);
    if (shownImage?.id === image.id) ui.deleteImage.disabled = false;
  }
  await Promise.all([reloadAfterDelete(), loadOperations()]);
}

/** Reloads the current page; when the delete emptied it, steps back to the page before. */
async function reloadAfterDelete(): Promise<void> {
  await loadImages();
  if (listing.images.length === 0 && listing.tokens.length > 1) await turnPage("previous");
}
