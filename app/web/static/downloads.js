// Weights on every Spark: the per-Spark weights line of a model card, the live progress of its
// download (bytes, rate, ETA, per Spark), the Download / "Download, then swap" / Verify
// actions, and the `download` events that keep it current.

import { post, seg } from "./api.js";
import { toast } from "./dialog.js";
import { h } from "./dom.js";
import { bytes, duration } from "./format.js";
import { emit, refresh, state } from "./store.js";

const TERMINAL = new Set(["done", "failed", "cancelled"]);
const WEIGHT_TONES = { complete: "ok", present: "ok", partial: "warn", absent: "bad" };
const WEIGHT_WORDS = { complete: "complete", present: "present", partial: "partial", absent: "missing" };

export function isRepoModel(model) {
  return !model.local && Boolean(model.repo);
}

export function downloading(model) {
  return Boolean(model.download && !TERMINAL.has(model.download.state));
}

/** True when some Spark lacks (part of) the weights. */
export function weightsMissing(model) {
  return Object.values(model.weights || {}).some((w) => w === "absent" || w === "partial");
}

/** "spark1 [complete] 61 GB · spark2 [partial] 12 GB" — or the scan's absence. */
export function weightsLine(model) {
  const onDisk = model.on_disk || {};
  const nodes = Object.keys(onDisk);
  if (!nodes.length) return h("span", { class: "muted" }, "not scanned yet");
  const weights = model.weights || {};
  return nodes.map((node, i) => {
    const size = onDisk[node];
    const w = weights[node];
    return [
      i ? " · " : "",
      h(
        "span",
        { class: "disk-node", "data-test": "weights", "data-node": node, "data-state": w || "" },
        h("span", { class: "muted" }, `${node} `),
        size === null || size === undefined ? "—" : bytes(size),
        !model.local && w ? [" ", h("span", { class: ["pill", `pill-${WEIGHT_TONES[w] || "muted"}`] }, WEIGHT_WORDS[w] || w)] : null,
      ),
    ];
  });
}

function percent(done, total) {
  return total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0;
}

/** The download block of a card: progress while running, the sentence when it failed. */
export function downloadBlock(model) {
  const d = model.download;
  if (!d) return null;
  if (d.state === "failed") {
    return h("div", { class: "model-note bad-text", "data-test": "download-error" }, `Download failed: ${d.error}`);
  }
  if (d.state === "cancelled" || d.state === "done") return null;
  const pct = percent(d.bytes_done, d.bytes_total);
  const facts = [`${bytes(d.bytes_done)} of ${d.bytes_total ? bytes(d.bytes_total) : "…"}`];
  if (d.rate_bps) facts.push(`${bytes(d.rate_bps)}/s`);
  if (d.eta_s !== null && d.eta_s !== undefined) facts.push(`${duration(d.eta_s)} left`);
  const planBytes = d.nodes.length ? d.bytes_total / d.nodes.length : 0;
  return h(
    "div",
    { class: "download", "data-test": "download", "data-state": d.state, "data-download": d.download_id },
    h(
      "div",
      { class: "download-head" },
      h("strong", null, d.phase ? `Downloading · ${d.phase}` : "Download queued"),
      h("span", { class: "muted small" }, facts.join(" · ")),
      h("button", { type: "button", class: "btn btn-ghost btn-small", "data-action": "cancel-download", onclick: () => cancelDownload(d) }, "Cancel"),
    ),
    h("progress", { class: "download-bar", max: 100, value: pct, "aria-label": `Download ${pct}%` }),
    h(
      "ul",
      { class: "download-nodes small" },
      d.nodes.map((n) =>
        h("li", { "data-node": n.node }, h("span", { class: "muted" }, `${n.node} `), `${n.state} · ${percent(n.bytes_done, planBytes)}%`),
      ),
    ),
    d.then_swap ? h("div", { class: "muted small" }, "Swaps to this model once the weights are verified.") : null,
  );
}

export async function startDownload(model, thenSwap) {
  const result = await post(`/api/models/${seg(model.key)}/download${thenSwap ? "?then_swap=true" : ""}`);
  if (!result.ok) {
    toast(result.detail, "bad");
    return;
  }
  applyDownload(result.data);
  toast(`Downloading ${model.repo}${thenSwap ? ", then swapping to it" : ""}.`, "ok");
}

async function cancelDownload(d) {
  const result = await post(`/api/downloads/${seg(d.download_id)}/cancel`);
  if (!result.ok) toast(result.detail, "bad");
}

/** Render the verification of every Spark into a panel (via `open(title, ...content)`). */
export async function verifyWeights(model, open) {
  const title = `Weights of ${model.key}`;
  const panel = open(title, h("p", { class: "muted" }, "Hashing the weights on every Spark…"));
  const result = await post(`/api/models/${seg(model.key)}/verify`);
  if (panel.hidden) return;
  if (!result.ok) {
    open(title, h("p", { class: "bad-text" }, result.detail));
    return;
  }
  const v = result.data;
  open(
    title,
    h("p", { class: v.ok ? "ok-text" : "bad-text", "data-test": "verify-summary" }, v.ok ? `Verified on every Spark (${v.repo} at ${v.revision.slice(0, 12)}).` : "Some Sparks lack intact weights — Download repairs them."),
    h(
      "ul",
      { class: "checks" },
      v.nodes.map((n) => {
        const ok = !n.missing_files.length && !n.corrupt_files.length;
        const detail = ok
          ? `all files present, sha256 verified`
          : [n.missing_files.length ? `missing: ${n.missing_files.join(", ")}` : "", n.corrupt_files.length ? `corrupt: ${n.corrupt_files.join(", ")}` : ""].filter(Boolean).join("; ");
        return h(
          "li",
          { class: ["check", ok ? "check-ok" : "check-fail"] },
          h("span", { class: "check-icon" }, ok ? "✓" : "✗"),
          h("span", { class: "check-name" }, n.node),
          h("span", { class: "check-detail" }, detail),
        );
      }),
    ),
  );
}

/** Put a download (from a response or an event) on its model card. */
export function applyDownload(d) {
  if (!d || !d.model_key || !state.models) return;
  const index = state.models.findIndex((m) => m.key === d.model_key);
  if (index < 0) return;
  const current = state.models[index].download;
  if (current && current.download_id !== d.download_id && d.started_at < current.started_at) return;
  state.models = state.models.map((m, i) => (i === index ? { ...m, download: d } : m));
  emit("models");
}

const lastFeed = new Map();

/** A `download` event from /api/events; `feed(kind, text, tone, at)` adds to the activity. */
export function onDownload(d, at, feed) {
  if (!d || typeof d !== "object" || !d.download_id) {
    refresh("models");
    return;
  }
  applyDownload(d);
  const summary = `${d.state}${d.phase ? ` · ${d.phase}` : ""}`;
  if (lastFeed.get(d.download_id) === summary) return;
  lastFeed.set(d.download_id, summary);
  const tone = d.state === "failed" ? "bad" : d.state === "done" ? "ok" : d.state === "cancelled" ? "warn" : "info";
  feed("download", `Download of ${d.repo}: ${summary}${d.error ? ` — ${d.error}` : ""}`, tone, at);
  if (TERMINAL.has(d.state)) refresh("models");
}
