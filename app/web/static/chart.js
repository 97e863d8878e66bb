// A small SVG time-series chart of one Spark's last hour: GPU utilisation as a line and GPU
// memory in use (as a share of the total) as a filled area, both on a 0–100 % scale.
// Gaps in the samples (a Spark that was unreachable) stay gaps.

import { s } from "./dom.js";

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

/** The chart for `samples` ([{t, util, mem_used_mib, mem_total_mib, …}]) as an <svg>. */
export function gpuChart(samples, intervalS = 5) {
  const points = parse(samples);
  const windowS = chartWindow(samples);
  // The window ends at the newest sample, so a skewed browser clock does not shift the plot.
  const end = points.length ? points[points.length - 1]._t : Date.now();
  const t0 = end - windowS * 1000;
  const recent = points.filter((p) => p._t >= t0);
  const mem = pathFor(recent, (p) => (p.mem_total_mib ? (100 * p.mem_used_mib) / p.mem_total_mib : null), t0, intervalS, windowS);
  const util = pathFor(recent, (p) => (p.util === null || p.util === undefined ? null : Number(p.util)), t0, intervalS, windowS);
  const last = recent[recent.length - 1];
  const summary = last && last.util !== null
    ? `GPU utilisation ${Math.round(last.util ?? 0)} % now, memory ${last.mem_total_mib ? Math.round((100 * last.mem_used_mib) / last.mem_total_mib) : 0} % in use`
    : "No GPU reading";
  return s(
    "svg",
    { class: "chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": summary },
    s("title", null, summary),
    [25, 50, 75].map((pct) => s("line", { class: "chart-grid", x1: 0, x2: W, y1: H - (pct / 100) * H, y2: H - (pct / 100) * H })),
    s("path", { class: "chart-mem-area", d: areaFor(mem.runs) }),
    s("path", { class: "chart-mem", d: mem.d }),
    s("path", { class: "chart-util", d: util.d }),
  );
}
