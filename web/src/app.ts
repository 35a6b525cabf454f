// The regplane web console: pick a folder or registry, page through its images, inspect one, delete it
// and follow the delete operation until it is done. Plain DOM; every call goes through the typed client.
import "./app.css";
import {
  Code,
  ConnectError,
  createRegplaneClients,
  operationError,
  waitForOperation,
  type Image,
  type Operation,
  type Registry,
} from "../../src/client/index.js";
import { byId, h } from "./dom.js";
import { describeError, type ErrorMessage } from "./errors.js";
import { describeMediaType, formatBytes, formatDate, shortDigest, shortenDigests, toDate } from "./format.js";

const apiUrl = document.querySelector<HTMLMetaElement>('meta[name="regplane-api"]')?.content.trim() || location.origin;
// Session storage: the key survives reloads of this tab but not closing it, and no other tab sees it.
const API_KEY_STORAGE = "regplane.apiKey";
const api = createRegplaneClients({
  baseUrl: apiUrl,
  protocol: "connect",
  timeoutMs: 30_000,
  headers: (): Record<string, string> => {
    const key = sessionStorage.getItem(API_KEY_STORAGE);
    return key ? { authorization: `Bearer ${key}` } : {};
  },
});

const ui = {
  apiUrl: byId("api-url"),
  keyBox: byId<HTMLDetailsElement>("key-box"),
  keyForm: byId<HTMLFormElement>("key-form"),
  apiKey: byId<HTMLInputElement>("api-key"),
  forgetKey: byId<HTMLButtonElement>("forget-key"),
  scope: byId<HTMLSelectElement>("scope"),
  notices: byId("notices"),
  queryForm: byId<HTMLFormElement>("query-form"),
  filter: byId<HTMLInputElement>("filter"),
  knownNames: byId<HTMLDataListElement>("known-names"),
  order: byId<HTMLSelectElement>("order"),
  pageSize: byId<HTMLSelectElement>("page-size"),
  clearFilter: byId<HTMLButtonElement>("clear-filter"),
  imagesHeading: byId("images-heading"),
  imagesError: byId("images-error"),
  imagesTable: byId<HTMLTableElement>("images-table"),
  imagesBody: byId<HTMLTableSectionElement>("images-body"),
  imagesEmpty: byId("images-empty"),
  prevPage: byId<HTMLButtonElement>("prev-page"),
  nextPage: byId<HTMLButtonElement>("next-page"),
  pageInfo: byId("page-info"),
  details: byId("details"),
  detailsHeading: byId("details-heading"),
  detailsError: byId("details-error"),
  detailsBody: byId("details-body"),
  closeDetails: byId<HTMLButtonElement>("close-details"),
  deleteImage: byId<HTMLButtonElement>("delete-image"),
  operationsError: byId("operations-error"),
  operationsList: byId("operations-list"),
  operationsEmpty: byId("operations-empty"),
  refreshOperations: byId<HTMLButtonElement>("refresh-operations"),
  moreOperations: byId<HTMLButtonElement>("more-operations"),
  operationStatus: byId("operation-status"),
  confirmDialog: byId<HTMLDialogElement>("confirm-delete"),
  confirmText: byId("confirm-text"),
};

interface Listing {
  /** Page tokens of the pages walked so far: the last one is the current page, so Previous pops it. */
  tokens: string[];
  nextToken: string;
  images: Image[];
  controller?: AbortController;
}

const listing: Listing = { tokens: [""], nextToken: "", images: [] };
const registries = new Map<string, Registry>();
const knownNames = new Set<string>();
/** Image ids with a delete in flight, so their Delete button stays disabled. */
const deleting = new Set<string>();
let shownImage: Image | undefined;
let detailsOpener: HTMLElement | undefined;
/** Counts detail requests, so a slow answer for an image opened earlier cannot replace a later one. */
let detailsRequest = 0;
let operationsToken = "";

function showError(target: HTMLElement, error: unknown): void {
  renderMessage(target, describeError(error, { apiUrl }));
  target.hidden = false;
  if (ConnectError.from(error).code === Code.Unauthenticated) ui.keyBox.open = true;
}

function renderMessage(target: HTMLElement, message: ErrorMessage): void {
  target.replaceChildren(h("strong", {}, message.title), ...message.details.map((line) => h("p", {}, line)));
}

function clearError(target: HTMLElement): void {
  target.hidden = true;
  target.replaceChildren();
}

function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

function setNotice(key: string, text: string | undefined): void {
  const existing = ui.notices.querySelector(`[data-notice="${key}"]`);
  if (text === undefined) {
    existing?.remove();
    return;
  }
  const notice = h("p", { class: "notice", "data-notice": key }, text);
  if (existing) existing.replaceWith(notice);
  else ui.notices.append(notice);
}

function unreachableText(ids: string[], what: string): string | undefined {
  if (ids.length === 0) return undefined;
  const names = ids.join(", ");
  return ids.length === 1
    ? `Registry ${names} could not be reached, so its ${what} are missing here. It is tried again on the next request.`
    : `Registries ${names} could not be reached, so their ${what} are missing here. They are tried again on the next request.`;
}

async function loadScopes(): Promise<void> {
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

async function loadImages(): Promise<void> {
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

function timeElement(date: Date | undefined): HTMLElement {
  if (date === undefined) return h("span", { class: "muted" }, "unknown");
  return h("time", { datetime: date.toISOString(), title: date.toISOString() }, formatDate(date));
}

function tagList(tags: string[]): HTMLElement {
  if (tags.length === 0) return h("span", { class: "muted" }, "untagged");
  return h("ul", { class: "tags", "aria-label": "Tags" }, ...tags.map((tag) => h("li", { class: "tag" }, tag)));
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

function restartListing(): void {
  listing.tokens = [""];
  void loadImages();
}

/**
 * Moves one page forward or back. The pager buttons are disabled while a page loads, which drops focus,
 * so a keyboard user's focus is put back on the pager (or the heading when both ends are reached).
 */
async function turnPage(direction: "next" | "previous"): Promise<void> {
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

async function openDetails(imageId: string, opener?: HTMLElement): Promise<void> {
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

function closeDetails(): void {
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

async function deleteShownImage(): Promise<void> {
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

function operationState(op: Operation): { label: string; kind: string; failure?: ErrorMessage } {
  if (!op.done) return { label: "Running", kind: "running" };
  const failure = operationError(op);
  if (failure === undefined) return { label: "Done", kind: "done" };
  return { label: "Failed", kind: "failed", failure: describeError(failure, { apiUrl }) };
}

function operationItem(op: Operation): HTMLLIElement {
  const state = operationState(op);
  return h(
    "li",
    { class: "operation", "data-operation-id": op.id },
    h("span", { class: `badge ${state.kind}` }, state.label),
    h(
      "div",
      { class: "operation-text" },
      h("p", { class: "operation-description", title: op.description }, shortenDigests(op.description || op.id)),
      state.failure && h("p", { class: "operation-error" }, [state.failure.title, ...state.failure.details].join(" ")),
      h("p", { class: "muted small" }, timeElement(toDate(op.createdAt)), " · ", h("code", {}, op.id)),
    ),
  );
}

async function loadOperations(more = false): Promise<void> {
  try {
    const response = await api.operations.list({ pageSize: 10n, pageToken: more ? operationsToken : "" });
    clearError(ui.operationsError);
    const items = response.operations.map(operationItem);
    if (more) ui.operationsList.append(...items);
    else ui.operationsList.replaceChildren(...items);
    operationsToken = response.nextPageToken;
    ui.moreOperations.hidden = operationsToken === "";
    ui.operationsEmpty.hidden = ui.operationsList.childElementCount > 0;
  } catch (error) {
    showError(ui.operationsError, error);
  }
}

async function reloadEverything(): Promise<void> {
  await loadScopes();
  listing.tokens = [""];
  await Promise.all([loadImages(), loadOperations()]);
}

ui.keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const key = ui.apiKey.value.trim();
  if (key === "") sessionStorage.removeItem(API_KEY_STORAGE);
  else sessionStorage.setItem(API_KEY_STORAGE, key);
  ui.apiKey.value = "";
  ui.keyBox.open = false;
  void reloadEverything();
});
ui.forgetKey.addEventListener("click", () => {
  sessionStorage.removeItem(API_KEY_STORAGE);
  ui.apiKey.value = "";
  ui.keyBox.open = false;
  void reloadEverything();
});

ui.apiUrl.textContent = apiUrl;
ui.scope.addEventListener("change", restartListing);
ui.order.addEventListener("change", restartListing);
ui.pageSize.addEventListener("change", restartListing);
ui.queryForm.addEventListener("submit", (event) => {
  event.preventDefault();
  restartListing();
});
ui.clearFilter.addEventListener("click", () => {
  ui.filter.value = "";
  ui.filter.focus();
  restartListing();
});
ui.prevPage.addEventListener("click", () => void turnPage("previous"));
ui.nextPage.addEventListener("click", () => void turnPage("next"));
ui.closeDetails.addEventListener("click", closeDetails);
ui.details.addEventListener("keydown", (event) => {
  if (event.key === "Escape") closeDetails();
});
ui.deleteImage.addEventListener("click", () => void deleteShownImage());
ui.refreshOperations.addEventListener("click", () => void loadOperations());
ui.moreOperations.addEventListener("click", () => void loadOperations(true));

await reloadEverything();
document.body.dataset.ready = "true";
