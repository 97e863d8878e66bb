// The Sparks: reachability and the GPU figures of each node, with its last hour, day or week
// plotted.

import { get } from "./api.js";
import { chartWindow, gpuChart } from "./chart.js";
import { byId, fill, h, pill, reconcile } from "./dom.js";
import { gib, num } from "./format.js";
import { state, watch } from "./store.js";

function stat(label, value, extra) {
  return h("div", { class: "stat" }, h("div", { class: "stat-label" }, label), h("div", { class: "stat-value" }, value), extra || null);
}

function meter(pct, tone) {
  const bar = h("div", { class: ["meter-fill", tone && `meter-${tone}`] });
  bar.style.width = `${Math.max(0, Math.min(100, pct || 0))}%`; // CSSOM, allowed by the CSP
  return h("div", { class: "meter", "aria-hidden": "true" }, bar);
}

function reachability(spark) {
  if (spark.reachable === true) return pill("reachable", "ok");
  if (spark.reachable === false) return pill("unreachable", "bad");
  return pill("checking…", "muted");
}

const RANGES = { "1h": 3600, "24h": 86400, "7d": 7 * 86400 };
// The chosen range; 24 h and 7 d come from the saved averages, fetched when chosen.
const chart = { range: "1h", long: null, error: null };
// Where the pointer rests on each Spark's chart, kept across the rebuild every update makes.
const hovers = new Map();

async function chooseRange(range) {
  chart.range = range;
  chart.long = null;
  chart.error = null;
  renderRangeButtons();
  render();
  if (range === "1h") return;
  const result = await get(`/api/gpu/history?range=${range}`);
  if (chart.range !== range) return;
  if (result.ok) chart.long = result.data;
  else chart.error = result.detail;
  render();
}

function renderRangeButtons() {
  const el = document.getElementById("gpu-range");
  if (!el) return;
  fill(
    el,
    Object.keys(RANGES).map((r) =>
      h("button", { type: "button", class: "btn btn-small", "aria-pressed": chart.range === r ? "true" : "false", "data-test": `range-${r}`, onclick: () => chooseRange(r) }, r),
    ),
  );
}

function hoverOf(name) {
  if (!hovers.has(name)) hovers.set(name, { fraction: null });
  return hovers.get(name);
}

function create() {
  return h("article", { class: "card spark", "data-test": "spark" });
}

function update(el, spark) {
  const gpu = spark.gpu || {};
  const used = gpu.memory_used_mib;
  const total = gpu.memory_total_mib;
  const memPct = used !== undefined && used !== null && total ? (100 * used) / total : null;
  const util = gpu.utilization_pct;
  const source = chart.range === "1h" ? state.history : chart.long;
  const history = source && source.sparks ? source.sparks[spark.name] : null;
  const interval = (source && source.interval_s) || 5;
  const rangeS = chart.range === "1h" ? null : RANGES[chart.range];
  const unreachable = spark.reachable === false;
  el.classList.toggle("spark-down", unreachable);
  fill(
    el,
    h(
      "header",
      { class: "spark-head" },
      h("div", null, h("h3", { class: "spark-name" }, spark.name), h("div", { class: "muted mono small", title: spark.cluster_address ? "SSH address · cluster-link address" : "SSH address" }, spark.cluster_address ? `${spark.host} · link ${spark.cluster_address}` : spark.host)),
      h("div", { class: "spark-badges" }, pill(spark.role || "worker", spark.role === "head" ? "accent" : "muted"), reachability(spark)),
    ),
    h(
      "div",
      { class: "stats" },
      stat("GPU", num(util, 0, " %"), meter(util, util > 85 ? "hot" : null)),
      stat("Memory", used === undefined || used === null ? "—" : `${gib(used).replace(" GiB", "")} / ${gib(total)}`, meter(memPct, "mem")),
      stat("Temp", num(gpu.temperature_c, 0, " °C")),
      stat("Power", num(gpu.power_w, 0, " W")),
    ),
    h(
      "figure",
      { class: "chart-wrap" },
      history && history.length
        ? gpuChart(history, interval, rangeS, hoverOf(spark.name))
        : h("div", { class: "chart-empty muted small" }, chart.error || (state.errors.history ? "GPU history not available" : chart.range === "1h" || chart.long ? "Collecting GPU history…" : "Loading…")),
      h(
        "figcaption",
        { class: "chart-legend small muted" },
        h("span", { class: "key key-util" }, "GPU util"),
        h("span", { class: "key key-mem" }, "Memory"),
        h("span", { class: "chart-range" }, rangeS ? `last ${chart.range} · averages` : `last ${Math.round(chartWindow(history) / 60)} min`),
      ),
    ),
  );
}

function render() {
  const el = byId("sparks");
  const status = state.status;
  if (!status) return;
  if (!status.sparks || !status.sparks.length) {
    fill(el, h("p", { class: "empty" }, "No Sparks configured yet."));
    return;
  }
  for (const child of Array.from(el.children)) if (!child.dataset.key) child.remove();
  reconcile(el, status.sparks, (s) => s.name, create, update);
}

export function mountSparks() {
  renderRangeButtons();
  watch(["status", "history"], render);
}
