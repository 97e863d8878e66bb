// Service tiles: one per enabled service (disabled services have none), with its state,
// latency and what it is.

import { byId, fill, h, patch, pill, reconcile } from "./dom.js";
import { state, watch } from "./store.js";

const KIND_LABEL = { vllm: "vLLM", openai: "OpenAI-compatible", http: "HTTP", qdrant: "Qdrant" };
const TONE = { up: "ok", down: "bad", loading: "info" };

function tiles() {
  const endpoints = new Map((state.endpoints || []).map((e) => [e.key, e]));
  const status = (state.status && state.status.services) || [];
  const seen = new Set();
  const result = [];
  for (const svc of status) {
    const ep = endpoints.get(svc.key) || {};
    seen.add(svc.key);
    if (svc.state === "disabled" || ep.disabled) continue;
    result.push({ ...ep, ...svc, name: ep.name || svc.name || svc.key });
  }
  // Endpoints not probed yet still get a tile (state unknown) unless disabled.
  for (const ep of endpoints.values()) {
    if (seen.has(ep.key) || ep.disabled) continue;
    result.push({ ...ep, state: "unknown", latency_ms: null, detail: null });
  }
  return result;
}

function create() {
  return h("article", { class: "tile", "data-test": "service-tile" });
}

function update(el, svc) {
  el.className = `tile tile-${svc.state}`;
  const latency = svc.latency_ms === null || svc.latency_ms === undefined ? null : `${Math.round(svc.latency_ms)} ms`;
  // Patched, not rebuilt: every probe round updates the tiles, and a rebuild would drop a
  // selection of the URL mid-copy.
  patch(
    el,
    h(
      "div",
      { class: "tile-head" },
      h("span", { class: "dot", "aria-hidden": "true" }),
      h("strong", { class: "tile-name" }, svc.name),
      latency ? h("span", { class: "tile-latency small", title: "latency of the last health probe" }, latency) : null,
      pill(svc.state, TONE[svc.state] || "muted"),
    ),
    svc.description ? h("div", { class: "tile-desc small" }, svc.description) : null,
    h("div", { class: "tile-meta small muted" }, [KIND_LABEL[svc.kind] || svc.kind, svc.node].filter(Boolean).join(" · ")),
    svc.url ? h("div", { class: "tile-url mono small muted", title: svc.url }, svc.url) : null,
    svc.detail ? h("div", { class: "tile-detail small" }, svc.detail) : null,
  );
}

function render() {
  const el = byId("services");
  if (!state.status && !state.endpoints) return;
  const list = tiles();
  if (!list.length) {
    fill(el, h("p", { class: "empty" }, "No services enabled."));
    return;
  }
  for (const child of Array.from(el.children)) if (!child.dataset.key) child.remove();
  reconcile(el, list, (t) => t.key, create, update);
}

export function mountServices() {
  watch(["status", "endpoints"], render);
}
