// A small SVG time-series chart of one Spark's GPU (the last hour, day or week): utilisation as
// a line and memory in use (as a share of the total) as a filled area, both on a 0–100 % scale,
// with a value axis, a time axis and the nearest reading shown under the pointer.
// Gaps in the samples (a Spark that was unreachable) stay gaps.

import { h, s } from "./dom.js";

const W = 600;
const H = 120;
const WINDOW_S = 3600;
const MIN_WINDOW_S = 120;

function pathFor(points, valueOf, t0, interval, windowS) {
  let d = "";
  let previous = null;
  const gap = Math.max(interval * 3, 30) * 1000;
  const runs = [];
  let run = [];
  for (const p of points) {
    const v = valueOf(p);
    if (v === null || v === undefined || Number.isNaN(v) || (previous && p._t - previous._t > gap)) {
      if (run.length) runs.push(run);
      run = [];
      if (v === null || v === undefined || Number.isNaN(v)) {
        previous = null;
        continue;
      }
    }
    run.push([((p._t - t0) / (windowS * 1000)) * W, H - (Math.min(100, Math.max(0, v)) / 100) * H]);
    previous = p;
  }
  if (run.length) runs.push(run);
  for (const r of runs) d += `M${r.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join("L")}`;
  return { d, runs };
}

function areaFor(runs) {
  return runs
    .filter((r) => r.length > 1)
    .map((r) => `M${r[0][0].toFixed(1)},${H}L${r.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join("L")}L${r[r.length - 1][0].toFixed(1)},${H}Z`)
    .join("");
}

function parse(samples) {
  return (samples || [])
    .map((p) => ({ ...p, _t: Date.parse(p.t) }))
    .filter((p) => !Number.isNaN(p._t))
    .sort((a, b) => a._t - b._t);
}

/**
 * The time window plotted, in seconds: the last hour, or less while Spark Control has been
 * up for less than that (at least two minutes), so a fresh start is not a sliver.
 */
export function chartWindow(samples) {
  const points = parse(samples);
  if (points.length < 2) return MIN_WINDOW_S;
  const span = (points[points.length - 1]._t - points[0]._t) / 1000;
  return Math.min(WINDOW_S, Math.max(MIN_WINDOW_S, Math.ceil(span / 60) * 60));
}

function timeLabel(ms, windowS) {
  const d = new Date(ms);
  const hm = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  if (windowS <= 86400) return hm;
  return `${d.getMonth() + 1}/${d.getDate()} ${hm}`;
}

function pct(p) {
  return p.mem_total_mib ? (100 * p.mem_used_mib) / p.mem_total_mib : null;
}

/** The value shown on hover for the point nearest to `ms`. */
function tipText(p, windowS) {
  const util = p.util === null || p.util === undefined ? "—" : `${Math.round(p.util)} %`;
  const mem = pct(p);
  return `${timeLabel(p._t, windowS)}${windowS <= 3600 ? `:${String(new Date(p._t).getSeconds()).padStart(2, "0")}` : ""} · GPU ${util} · memory ${mem === null ? "—" : `${Math.round(mem)} %`}`;
}

/**
 * The chart for `samples` ([{t, util, mem_used_mib, mem_total_mib, …}]): an SVG plot with a
 * value axis (0–100 %), a time axis, and the values of the nearest point under the pointer.
 * `rangeS` fixes the window (24 h, 7 d); without it the window follows `chartWindow`.
 * `hover` ({fraction}) outlives the chart: the chart is rebuilt on every update, and a pointer
 * resting on the old one must find its reading still shown on the new one.
 */
export function gpuChart(samples, intervalS = 5, rangeS = null, hover = { fraction: null }) {
  const points = parse(samples);
  const windowS = rangeS || chartWindow(samples);
  // The window ends at the newest sample, so a skewed browser clock does not shift the plot.
  const end = points.length ? points[points.length - 1]._t : Date.now();
  const t0 = end - windowS * 1000;
  const recent = points.filter((p) => p._t >= t0);
  const mem = pathFor(recent, pct, t0, intervalS, windowS);
  const util = pathFor(recent, (p) => (p.util === null || p.util === undefined ? null : Number(p.util)), t0, intervalS, windowS);
  const last = recent[recent.length - 1];
  const summary = last && last.util !== null
    ? `GPU utilisation ${Math.round(last.util ?? 0)} % now, memory ${last.mem_total_mib ? Math.round(pct(last)) : 0} % in use`
    : "No GPU reading";
  const cursor = s("line", { class: "chart-cursor", x1: -10, x2: -10, y1: 0, y2: H, visibility: "hidden" });
  const svg = s(
    "svg",
    { class: "chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": summary },
    s("title", null, summary),
    [25, 50, 75].map((v) => s("line", { class: "chart-grid", x1: 0, x2: W, y1: H - (v / 100) * H, y2: H - (v / 100) * H })),
    s("path", { class: "chart-mem-area", d: areaFor(mem.runs) }),
    s("path", { class: "chart-mem", d: mem.d }),
    s("path", { class: "chart-util", d: util.d }),
    cursor,
  );
  const tip = h("div", { class: "chart-tip", "data-test": "chart-tip", hidden: true });
  const plot = h("div", { class: "chart-plot" }, svg, tip);
  const showAt = (fraction) => {
    const box = svg.getBoundingClientRect();
    if (!recent.length || !box.width) return;
    const at = t0 + fraction * windowS * 1000;
    let best = recent[0];
    for (const p of recent) if (Math.abs(p._t - at) < Math.abs(best._t - at)) best = p;
    const x = ((best._t - t0) / (windowS * 1000)) * W;
    cursor.setAttribute("x1", x.toFixed(1));
    cursor.setAttribute("x2", x.toFixed(1));
    cursor.setAttribute("visibility", "visible");
    tip.textContent = tipText(best, windowS);
    tip.hidden = false;
    const px = (x / W) * box.width;
    tip.style.left = `${Math.min(Math.max(0, px - tip.offsetWidth / 2), box.width - tip.offsetWidth)}px`;
  };
  plot.addEventListener("pointermove", (event) => {
    const box = svg.getBoundingClientRect();
    if (!box.width) return;
    hover.fraction = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    showAt(hover.fraction);
  });
  plot.addEventListener("pointerleave", () => {
    hover.fraction = null;
    tip.hidden = true;
    cursor.setAttribute("visibility", "hidden");
  });
  // Measured once the new chart is in the page (the caller inserts it after this returns).
  if (hover.fraction !== null) requestAnimationFrame(() => hover.fraction !== null && showAt(hover.fraction));
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => h("span", null, timeLabel(t0 + f * windowS * 1000, windowS)));
  return h(
    "div",
    { class: "chart-frame" },
    h("div", { class: "chart-y", "aria-hidden": "true" }, h("span", null, "100 %"), h("span", null, "50 %"), h("span", null, "0 %")),
    plot,
    h("div", { class: "chart-x", "aria-hidden": "true", "data-test": "chart-x" }, ticks),
  );
}
