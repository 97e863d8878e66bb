// The webhook card: where events go, which ones, the recent deliveries (kept across restarts)
// and a "Send test" button that shows the receiver's answer.

import { get, post } from "./api.js";
import { byId, fill, h, pill } from "./dom.js";
import { clockTime } from "./format.js";
import { watch } from "./store.js";

let data = null;
let error = null;
let testResult = null;
let sending = false;
let lastFetch = 0;

async function refresh() {
  lastFetch = Date.now();
  const result = await get("/api/webhook/deliveries?limit=10");
  if (result.ok) {
    data = result.data;
    error = null;
  } else error = result.detail;
  render();
}

async function sendTest() {
  sending = true;
  render();
  const result = await post("/api/webhook/test");
  sending = false;
  testResult = result.ok ? result.data : { delivered: false, error: result.detail };
  await refresh();
}

function delivery(d) {
  const outcome = d.ok ? pill(d.status ? `HTTP ${d.status}` : "ok", "ok") : pill(d.status ? `HTTP ${d.status}` : "failed", "bad");
  return h(
    "li",
    { class: "delivery", "data-test": "delivery" },
    outcome,
    " ",
    h("strong", null, d.event),
    h("span", { class: "small muted" }, ` · ${clockTime(d.at)}${d.latency_ms !== null ? ` · ${Math.round(d.latency_ms)} ms` : ""}${d.attempts > 1 ? ` · ${d.attempts} attempts` : ""}`),
    d.error ? h("div", { class: "small history-error" }, d.error) : null,
  );
}

function render() {
  const el = byId("webhook");
  if (!data) {
    fill(el, h("p", { class: "empty" }, error || "Loading…"));
    return;
  }
  const result = testResult
    ? h(
        "p",
        { class: "small", "data-test": "webhook-test-result" },
        testResult.delivered ? `Test delivered: HTTP ${testResult.status} in ${Math.round(testResult.latency_ms)} ms.` : `Test not delivered: ${testResult.error}`,
      )
    : null;
  fill(
    el,
    data.configured
      ? h("p", { class: "small" }, "Sends ", h("span", { class: "mono" }, data.events.join(", ")), " to ", h("span", { class: "mono" }, data.target), data.retries ? ` (${data.retries} retries)` : "")
      : h("p", { class: "small muted" }, "No webhook URL configured (Configure Sparks → webhook)."),
    h(
      "div",
      { class: "webhook-actions" },
      h("button", { type: "button", class: "btn", "data-test": "webhook-test", disabled: !data.configured || sending, onclick: sendTest }, sending ? "Sending…" : "Send test"),
    ),
    result,
    data.deliveries.length ? h("ol", { class: "deliveries" }, data.deliveries.map(delivery)) : h("p", { class: "small muted" }, "No deliveries yet."),
  );
}

export function mountWebhook() {
  refresh();
  // Swaps and lock changes may have sent events: look again, at most every few seconds.
  watch(["jobs", "lock"], () => {
    if (Date.now() - lastFetch > 3000) refresh();
  });
}
