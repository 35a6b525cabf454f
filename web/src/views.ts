// Markup the image list, the details and the operations share: a date, and an image's tags.
import { h } from "./dom.js";
import { formatDate } from "./format.js";

export function timeElement(date: Date | undefined): HTMLElement {
  if (date === undefined) return h("span", { class: "muted" }, "unknown");
  return h("time", { datetime: date.toISOString(), title: date.toISOString() }, formatDate(date));
}

export function tagList(tags: string[]): HTMLElement {
  if (tags.length === 0) return h("span", { class: "muted" }, "untagged");
  return h("ul", { class: "tags", "aria-label": "Tags" }, ...tags.map((tag) => h("li", { class: "tag" }, tag)));
}
