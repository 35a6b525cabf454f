// The operations list: recent operations with their state, paged with "More".
import { operationError, type Operation } from "../../src/client/index.js";
import { h } from "./dom.js";
import { describeError, type ErrorMessage } from "./errors.js";
import { shortenDigests, toDate } from "./format.js";
import { clearError, showError } from "./messages.js";
import { api, apiUrl } from "./session.js";
import { ui } from "./ui.js";
import { timeElement } from "./views.js";

let operationsToken = "";

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

export async function loadOperations(more = false): Promise<void> {
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
