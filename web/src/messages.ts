// Errors and notices on the page: an API failure as the reader sees it, and notes about unreachable registries.
import { Code, ConnectError } from "../../src/client/index.js";
import { h } from "./dom.js";
import { describeError, type ErrorMessage } from "./errors.js";
import { apiUrl } from "./session.js";
import { ui } from "./ui.js";

export function showError(target: HTMLElement, error: unknown): void {
  renderMessage(target, describeError(error, { apiUrl }));
  target.hidden = false;
  if (ConnectError.from(error).code === Code.Unauthenticated) ui.keyBox.open = true;
}

function renderMessage(target: HTMLElement, message: ErrorMessage): void {
  target.replaceChildren(h("strong", {}, message.title), ...message.details.map((line) => h("p", {}, line)));
}

export function clearError(target: HTMLElement): void {
  target.hidden = true;
  target.replaceChildren();
}

export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

export function setNotice(key: string, text: string | undefined): void {
  const existing = ui.notices.querySelector(`[data-notice="${key}"]`);
  if (text === undefined) {
    existing?.remove();
    return;
  }
  const notice = h("p", { class: "notice", "data-notice": key }, text);
  if (existing) existing.replaceWith(notice);
  else ui.notices.append(notice);
}

export function unreachableText(ids: string[], what: string): string | undefined {
  if (ids.length === 0) return undefined;
  const names = ids.join(", ");
  return ids.length === 1
    ? `Registry ${names} could not be reached, so its ${what} are missing here. It is tried again on the next request.`
    : `Registries ${names} could not be reached, so their ${what} are missing here. They are tried again on the next request.`;
}
