// The console's one way to change something: ask in the confirmation dialog, then follow the operation
// the change started to its end in the status line, and say how it ended.
import { operationError, waitForOperation, type Operation } from "../../src/client/index.js";
import { h } from "./dom.js";
import { describeError } from "./errors.js";
import { loadOperations } from "./operations.js";
import { api, apiUrl } from "./session.js";
import { ui } from "./ui.js";

/** Shows the dialog with this title, text and confirm button; true when the user confirmed. */
export function confirmChange(title: string, text: string, confirmLabel: string): Promise<boolean> {
  ui.confirmTitle.textContent = title;
  ui.confirmText.textContent = text;
  ui.confirmButton.textContent = confirmLabel;
  ui.confirmDialog.returnValue = "";
  ui.confirmDialog.showModal();
  return new Promise((resolve) => {
    ui.confirmDialog.addEventListener("close", () => resolve(ui.confirmDialog.returnValue === "delete"), { once: true });
  });
}

export function showOperationStatus(text: string, kind: "progress" | "done" | "failed", details: string[] = []): void {
  const dismiss = h("button", { type: "button", class: "dismiss", "aria-label": "Dismiss" }, "×");
  dismiss.addEventListener("click", () => {
    ui.operationStatus.hidden = true;
  });
  ui.operationStatus.className = `operation-status ${kind}`;
  ui.operationStatus.replaceChildren(h("div", {}, h("strong", {}, text), ...details.map((line) => h("p", {}, line))), dismiss);
  ui.operationStatus.hidden = false;
}

/**
 * Starts a change and follows its operation: `doing` ("Deleting x") while it runs, `done` ("Deleted x")
 * once it succeeded. Returns whether it did; a failure is shown, not thrown.
 */
export async function followChange(start: () => Promise<Operation>, doing: string, done: string, failedTo: string): Promise<boolean> {
  try {
    const started = await start();
    showOperationStatus(`${doing}…`, "progress", [`Operation ${started.id}`]);
    void loadOperations();
    const startedAt = Date.now();
    const still = `Still ${doing.charAt(0).toLowerCase()}${doing.slice(1)}…`;
    const finished = started.done
      ? started
      : await waitForOperation(api.operations, started.id, {
          onProgress: () => showOperationStatus(still, "progress", [`Operation ${started.id}, ${Math.round((Date.now() - startedAt) / 1000)} s so far`]),
        });
    const failure = operationError(finished);
    if (failure) {
      const message = describeError(failure, { apiUrl });
      showOperationStatus(`${doing} failed: ${message.title}`, "failed", message.details);
      return false;
    }
    showOperationStatus(`${done}.`, "done", [`Operation ${finished.id} is done.`]);
    return true;
  } catch (error) {
    const message = describeError(error, { apiUrl });
    showOperationStatus(`Could not ${failedTo}: ${message.title}`, "failed", message.details);
    return false;
  }
}
