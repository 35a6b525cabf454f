// The regplane web console: pick a folder or registry, page through its images, inspect one, delete it
// and follow the delete operation until it is done. Plain DOM; every call goes through the typed client.
// Each concern has its file: images.ts (the list), details.ts (one image and its delete), operations.ts.
import "./app.css";
import { closeDetails, deleteShownImage } from "./details.js";
import { listing, loadImages, loadScopes, restartListing, turnPage } from "./images.js";
import { loadOperations } from "./operations.js";
import { API_KEY_STORAGE, apiUrl } from "./session.js";
import { ui } from "./ui.js";

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
