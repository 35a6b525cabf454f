// The image list: the scopes (folders and registries) to pick from, the filter, order and page size, and
// paging through the images of the chosen scope.
import type { Image, Registry } from "../../src/client/index.js";
import { openDetails } from "./details.js";
import { h } from "./dom.js";
import { formatBytes, shortDigest, toDate } from "./format.js";
import { clearError, isAbort, setNotice, showError, unreachableText } from "./messages.js";
import { api } from "./session.js";
import { ui } from "./ui.js";
import { tagList, timeElement } from "./views.js";

interface Listing {
  /** Page tokens of the pages walked so far: the last one is the current page, so Previous pops it. */
  tokens: string[];
  nextToken: string;
  images: Image[];
  controller?: AbortController;
}

export const listing: Listing = { tokens: [""], nextToken: "", images: [] };
export const registries = new Map<string, Registry>();
const knownNames = new Set<string>();

export async function loadScopes(): Promise<void> {
  const found: Registry[] = [];
  const unreachable = new Set<string>();
  let pageToken = "";
  try {
    do {
      const page = await api.registries.list({ pageSize: 1000n, pageToken });
      found.push(...page.registries);
      page.unreachable.forEach((id) => unreachable.add(id));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
  } catch (error) {
    showError(ui.imagesError, error);
    return;
  }
  setNotice("registries", unreachableText([...unreachable], "details"));
  registries.clear();
  for (const r of found) registries.set(r.id, r);
  const folders = [...new Set(found.map((r) => r.folderId).filter(Boolean))].sort();
  const selected = ui.scope.value;
  ui.scope.replaceChildren(
    h("option", { value: "all" }, "All registries"),
    h("optgroup", { label: "Folders" }, ...folders.map((id) => h("option", { value: `folder:${id}` }, `Folder ${id}`))),
    h("optgroup", { label: "Registries" }, ...found.map((r) => h("option", { value: `registry:${r.id}` }, `${r.id} (${r.provider})`))),
  );
  ui.scope.value = [...ui.scope.options].some((o) => o.value === selected) ? selected : "all";
}

function scopeFields(): { folderId?: string; registryId?: string } {
  const [kind, id] = ui.scope.value.split(/:(.*)/s);
  if (kind === "folder") return { folderId: id };
  if (kind === "registry") return { registryId: id };
  return {};
}

function filterExpression(): string {
  const name = ui.filter.value.trim();
  return name === "" ? "" : `name="${name}"`;
}

function pageSize(): number {
  return Number(ui.pageSize.value);
}

export async function loadImages(): Promise<void> {
  listing.controller?.abort();
  const controller = new AbortController();
  listing.controller = controller;
  ui.imagesTable.setAttribute("aria-busy", "true");
  ui.pageInfo.textContent = "Loading…";
  ui.prevPage.disabled = true;
  ui.nextPage.disabled = true;
  try {
    const response = await api.images.list(
      {
        ...scopeFields(),
        pageSize: BigInt(pageSize()),
        pageToken: listing.tokens[listing.tokens.length - 1],
        filter: filterExpression(),
        orderBy: ui.order.value,
      },
      { signal: controller.signal },
    );
    clearError(ui.imagesError);
    listing.images = response.images;
    listing.nextToken = response.nextPageToken;
    setNotice("images", unreachableText(response.unreachable, "images"));
    renderImages();
  } catch (error) {
    if (controller.signal.aborted || isAbort(error)) return;
    listing.images = [];
    listing.nextToken = "";
    renderImages();
    showError(ui.imagesError, error);
  } finally {
    if (listing.controller === controller) ui.imagesTable.removeAttribute("aria-busy");
  }
}

function renderImages(): void {
  const page = listing.tokens.length;
  ui.imagesBody.replaceChildren(...listing.images.map(imageRow));
  ui.imagesEmpty.hidden = listing.images.length > 0;
  ui.imagesEmpty.textContent = ui.filter.value.trim() === "" ? emptyScopeText() : "No image has this exact name here.";
  const first = (page - 1) * pageSize() + 1;
  ui.pageInfo.textContent =
    listing.images.length === 0 ? `Page ${page}` : `Page ${page} · images ${first}–${first + listing.images.length - 1}`;
  ui.prevPage.disabled = page <= 1;
  ui.nextPage.disabled = listing.nextToken === "";
  for (const image of listing.images) knownNames.add(image.name);
  ui.knownNames.replaceChildren(...[...knownNames].sort().slice(0, 500).map((name) => h("option", { value: name })));
}

/** What to do when a scope has no image yet: how to put one in, for the kind of registry chosen. */
function emptyScopeText(): string {
  const { registryId } = scopeFields();
  const registry = registryId === undefined ? undefined : registries.get(registryId);
  if (registry?.provider === "local") {
    return (
      `No images in ${registry.id} yet. It reads OCI image layouts from <data-dir>/registry/<repository>: copy one in with ` +
      "skopeo copy docker://docker.io/library/alpine:3 oci:./data/registry/library/alpine:3 (or build one offline, see the README), then reload this page."
    );
  }
  if (registry !== undefined) {
    const host = registry.hostname || registry.endpoint;
    return `No images in ${registry.id} yet. Push one, e.g. skopeo copy docker://docker.io/library/alpine:3 docker://${host}/library/alpine:3, then reload this page.`;
  }
  return "No images here yet. Push an image to one of these registries, or copy an OCI layout into <data-dir>/registry/<repository> for the embedded one (skopeo copy … oci:./data/registry/demo/app:v1), then reload this page.";
}

function imageRow(image: Image): HTMLTableRowElement {
  const open = h("button", { type: "button", class: "link", "data-image-id": image.id }, image.name);
  open.addEventListener("click", () => void openDetails(image.id, open));
  return h(
    "tr",
    { "data-image-id": image.id },
    h("th", { scope: "row", "data-label": "Name" }, open),
    h("td", { "data-label": "Tags" }, tagList(image.tags)),
    h("td", { class: "col-digest", "data-label": "Digest" }, h("code", { title: image.digest }, shortDigest(image.digest))),
    h("td", { class: "num", "data-label": "Size" }, formatBytes(image.compressedSize)),
    h("td", { "data-label": "Created" }, timeElement(toDate(image.createdAt))),
  );
}

export function restartListing(): void {
  listing.tokens = [""];
  void loadImages();
}

/**
 * Moves one page forward or back. The pager buttons are disabled while a page loads, which drops focus,
 * so a keyboard user's focus is put back on the pager (or the heading when both ends are reached).
 */
export async function turnPage(direction: "next" | "previous"): Promise<void> {
  const [pressed, other] = direction === "next" ? [ui.nextPage, ui.prevPage] : [ui.prevPage, ui.nextPage];
  const hadFocus = document.activeElement === pressed;
  if (direction === "next") {
    if (listing.nextToken === "") return;
    listing.tokens.push(listing.nextToken);
  } else {
    if (listing.tokens.length <= 1) return;
    listing.tokens.pop();
  }
  await loadImages();
  if (hadFocus) (!pressed.disabled ? pressed : !other.disabled ? other : ui.imagesHeading).focus();
}
