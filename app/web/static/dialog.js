// A confirmation dialog (a native <dialog>, so it is modal and keyboard-friendly on every
// device) and short-lived notices ("toasts") for results that have no place of their own.

import { byId, fill, h } from "./dom.js";

/**
 * Ask before doing something that affects everyone. Resolves true when confirmed.
 * `body` is text (or nodes built with h()).
 */
export function confirmAction({ title, body, confirm = "Confirm", danger = false }) {
  const dialog = byId("confirm-dialog");
  return new Promise((resolve) => {
    const ok = h("button", { type: "button", class: ["btn", danger ? "btn-danger" : "btn-primary"], "data-test": "confirm-ok" }, confirm);
    const cancel = h("button", { type: "button", class: "btn", "data-test": "confirm-cancel" }, "Cancel");
    fill(dialog, h("h2", null, title), h("div", { class: "dialog-body" }, body), h("div", { class: "dialog-actions" }, cancel, ok));
    let answered = false;
    const finish = (value) => {
      if (answered) return;
      answered = true;
      if (dialog.open) dialog.close();
      resolve(value);
    };
    ok.addEventListener("click", () => finish(true));
    cancel.addEventListener("click", () => finish(false));
    dialog.addEventListener("close", () => finish(false), { once: true });
    dialog.showModal();
    cancel.focus();
  });
}

/** Show a notice for a few seconds. tone: "ok" | "bad" | "info". */
export function toast(message, tone = "info") {
  const area = byId("toasts");
  const el = h("div", { class: ["toast", `toast-${tone}`], role: tone === "bad" ? "alert" : "status" }, message);
  area.appendChild(el);
  setTimeout(() => el.remove(), tone === "bad" ? 9000 : 5000);
}
