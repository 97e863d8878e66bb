// The header: the running model and its state, the live-connection indicator, the lock
// banner (holder, note, expiry with a live countdown, Force release), config warnings and the
// "no Sparks configured" notice.

import { del } from "./api.js";
import { confirmAction, toast } from "./dialog.js";
import { byId, fill, h, icon, pill } from "./dom.js";
import { absolute, countdown } from "./format.js";
import { live } from "./live.js";
import { refresh, set, state, watch } from "./store.js";

const MODEL_TONES = { ready: "ok", loading: "info", starting: "info", failed: "bad", stopped: "muted", unknown: "muted" };

/** When the lock ends, by the browser's clock (from seconds_remaining, so skew does not matter). */
export const lockClock = { deadline: null, holder: null };

export function modelName(key) {
  const model = (state.models || []).find((m) => m.key === key);
  return model ? model.name : key;
}

/** "Locked by X until 12:15:00" for the current lock, or null when it is free. */
export function lockReason() {
  const lock = state.lock;
  if (!lock || !lock.held) return null;
  return `Locked by ${lock.holder} until ${absolute(lock.expires_at)}`;
}

function renderRunning() {
  const el = byId("running");
  const status = state.status;
  if (!status) {
    fill(el, h("span", { class: "muted" }, state.errors.status ? "Status unavailable" : "Loading…"));
    return;
  }
  const model = status.model || { key: null, state: "unknown" };
  const swap = status.swap;
  const label = model.key ? modelName(model.key) : model.state === "stopped" ? "Nothing running" : "No model known";
  const children = [
    h("span", { class: "running-label" }, "Running"),
    h("strong", { class: "running-model", "data-test": "running-model", title: model.key || "" }, label),
    pill(model.state || "unknown", MODEL_TONES[model.state] || "muted"),
  ];
  if (swap && !swap.dry_run) {
    children.push(h("span", { class: "running-swap" }, `→ swapping to ${modelName(swap.model_key)} (${Math.round((swap.progress || 0) * 100)} %)`));
  }
  fill(el, ...children);
}

function renderConnection() {
  const el = byId("connection");
  const text = { live: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…" }[live.connection] || live.connection;
  el.className = `connection connection-${live.connection}`;
  el.title = live.connection === "live" ? "Receiving live updates from Spark Control" : "Waiting for Spark Control; the page refreshes itself when it is back";
  fill(el, h("span", { class: "dot", "aria-hidden": "true" }), text);
}

async function forceRelease() {
  const lock = state.lock;
  if (!lock || !lock.held) return;
  const ok = await confirmAction({
    title: "Force-release the swap lock?",
    body: [
      h("p", null, "The lock is held by ", h("strong", null, lock.holder), lock.note ? ` (“${lock.note}”)` : "", "."),
      h("p", null, "Its owner may be in the middle of a run that expects the current model. Releasing lets anyone swap right away."),
    ],
    confirm: "Force release",
    danger: true,
  });
  if (!ok) return;
  const result = await del("/api/swap/lock?force=true");
  if (result.ok) {
    set("lock", result.data && typeof result.data.held === "boolean" ? result.data : { held: false });
    toast("Swap lock released.", "ok");
  } else {
    toast(result.detail, "bad");
    refresh("lock");
  }
}

function renderLock() {
  const el = byId("lock-banner");
  const lock = state.lock;
  if (!lock || !lock.held) {
    lockClock.deadline = null;
    el.hidden = true;
    el.replaceChildren();
    return;
  }
  lockClock.deadline = Date.now() + Math.max(0, Number(lock.seconds_remaining) || 0) * 1000;
  const left = h("span", { class: "countdown", "data-countdown": "lock", "data-test": "lock-countdown" }, countdown((lockClock.deadline - Date.now()) / 1000));
  el.hidden = false;
  fill(
    el,
    h("div", { class: "banner-icon" }, icon("lock")),
    h(
      "div",
      { class: "banner-text" },
      h("div", { class: "banner-title" }, "Swap lock held by ", h("strong", { "data-test": "lock-holder" }, lock.holder)),
      lock.note ? h("div", { class: "banner-note", "data-test": "lock-note" }, `“${lock.note}”`) : null,
      h("div", { class: "banner-meta" }, `Swaps from this dashboard are blocked. Expires at ${absolute(lock.expires_at)} · `, left, " left"),
    ),
    h("button", { type: "button", class: "btn btn-danger-outline", "data-test": "force-release", onclick: forceRelease }, "Force release"),
  );
}

function renderNotices() {
  const el = byId("notices");
  const status = state.status;
  const items = [];
  if (status && status.configured === false) {
    items.push(
      h(
        "div",
        { class: "notice notice-warn", "data-test": "not-configured" },
        h("strong", null, "No Sparks configured"),
        " — run ",
        h("em", null, "Configure Sparks"),
        " in StartOS to add your head and worker Sparks.",
      ),
    );
  }
  for (const warning of (status && status.warnings) || []) {
    if (status.configured === false && /^no sparks configured/i.test(warning)) continue;
    items.push(h("div", { class: "notice notice-info", "data-test": "warning" }, h("strong", null, "Config: "), warning));
  }
  if (state.errors.status) {
    items.push(h("div", { class: "notice notice-bad" }, `Could not load the cluster status: ${state.errors.status}`));
  }
  el.hidden = items.length === 0;
  fill(el, ...items);
}

/** Called every second: the countdown, and a refetch once the lock should have expired. */
export function tickLock() {
  if (lockClock.deadline === null) return;
  const left = (lockClock.deadline - Date.now()) / 1000;
  for (const el of document.querySelectorAll("[data-countdown=lock]")) el.textContent = countdown(left);
  if (left <= 0) {
    lockClock.deadline = null;
    refresh("lock");
  }
}

export function mountHeader() {
  watch(["status", "models"], renderRunning);
  watch(["connection"], renderConnection);
  watch(["lock"], renderLock);
  watch(["status"], renderNotices);
  renderRunning();
  renderConnection();
  renderLock();
  renderNotices();
}
