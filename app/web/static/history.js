// The swap history: who asked, for what, when, how long each phase took, and how it ended.
// The newest page comes from the store (kept live by swap events); "Load older" pages back
// through GET /api/swap?before=<job id>.

import { get } from "./api.js";
import { byId, fill, h, pill } from "./dom.js";
import { absolute, duration, relative } from "./format.js";
import { modelName } from "./header.js";
import { state, watch } from "./store.js";

const PHASES = ["preflight", "draining", "stopping", "launching", "loading", "verifying"];
const TONE = { ready: "ok", failed: "bad", cancelled: "warn", running: "info", queued: "muted" };
const PAGE = 50;

let older = [];
let olderCursor = undefined; // undefined: not asked yet; null: nothing older
let loading = false;

/** "Dashboard", "API 10.0.0.5 · curl/8", "Lock: openclaw", "Schedule daily-vol", … */
export function originText(origin) {
  if (!origin) return "—";
  const client = [origin.client, origin.user_agent].filter(Boolean).join(" · ");
  switch (origin.kind) {
    case "dashboard":
      return origin.client ? `Dashboard (${origin.client})` : "Dashboard";
    case "lock":
      return `Lock holder ${origin.holder || "?"}${client ? ` · ${client}` : ""}`;
    case "schedule":
      return `Schedule ${origin.schedule_id || "?"}${origin.holder ? ` (lock ${origin.holder})` : ""}`;
    case "swap_on_request":
      return `Requested by /v1 (${origin.client || "?"})`;
    case "watchdog":
      return "Watchdog (the model crashed after it was ready)";
    default:
      return client ? `API · ${client}` : "API";
  }
}

function phaseBar(timings) {
  const parts = PHASES.map((p) => [p, timings ? timings[`${p}_s`] : null]).filter(([, v]) => typeof v === "number" && v > 0);
  const total = parts.reduce((sum, [, v]) => sum + v, 0);
  const bar = h("div", { class: "phase-bar", role: "img", "aria-label": parts.map(([p, v]) => `${p} ${v.toFixed(1)} s`).join(", ") || "no phases" });
  for (const [phase, seconds] of parts) {
    const seg = h("div", { class: ["phase-seg", `phase-${phase}`], title: `${phase}: ${seconds.toFixed(1)} s` });
    seg.style.width = `${(100 * seconds) / total}%`; // CSSOM, allowed by the CSP
    bar.appendChild(seg);
  }
  return bar;
}

function row(job) {
  const t = job.timings || {};
  const took = typeof t.total_s === "number" ? duration(t.total_s) : job.phase ? `${job.phase}…` : "—";
  return h(
    "tr",
    { "data-test": "history-row", "data-job": job.job_id },
    h("td", null, h("span", { title: absolute(job.started_at), "data-rel": job.started_at }, relative(job.started_at))),
    h("td", { "data-test": "history-origin" }, originText(job.origin)),
    h("td", null, h("strong", null, modelName(job.model_key)), job.dry_run ? " (dry run)" : ""),
    h("td", { class: "mono" }, took),
    h("td", null, phaseBar(t)),
    h("td", null, pill(job.state, TONE[job.state] || "muted")),
    h("td", { class: "history-error small" }, job.state !== "ready" && job.error ? job.error : ""),
  );
}

async function loadOlder() {
  if (loading) return;
  const shown = jobs();
  const last = olderCursor === undefined ? (shown.length ? shown[shown.length - 1].job_id : null) : olderCursor;
  if (!last) return;
  loading = true;
  const result = await get(`/api/swap?limit=${PAGE}&before=${encodeURIComponent(last)}`);
  loading = false;
  if (!result.ok) {
    state.errors.olderJobs = result.detail;
  } else {
    older = older.concat(result.data.jobs);
    olderCursor = result.data.next_before;
  }
  render();
}

function jobs() {
  const first = state.jobs || [];
  const seen = new Set(first.map((j) => j.job_id));
  return first.concat(older.filter((j) => !seen.has(j.job_id)));
}

function render() {
  const el = byId("history");
  if (!state.jobs) {
    if (state.errors.jobs) fill(el, h("p", { class: "empty" }, state.errors.jobs));
    return;
  }
  const all = jobs();
  if (!all.length) {
    fill(el, h("p", { class: "empty" }, "No swaps yet."));
    return;
  }
  const more = olderCursor !== null && (olderCursor !== undefined || state.jobs.length >= PAGE);
  fill(
    el,
    h(
      "div",
      { class: "history-scroll" },
      h(
        "table",
        { class: "history-table" },
        h("thead", null, h("tr", null, ["When", "Who", "Model", "Took", "Phases", "Outcome", "Error"].map((c) => h("th", null, c)))),
        h("tbody", null, all.map(row)),
      ),
    ),
    h("div", { class: "phase-legend small muted" }, ["preflight", "stopping", "launching", "loading", "verifying"].map((p) => h("span", { class: `phase-key-${p}` }, p))),
    more ? h("button", { type: "button", class: "btn history-more", "data-test": "history-more", onclick: loadOlder }, loading ? "Loading…" : "Load older") : null,
    state.errors.olderJobs ? h("p", { class: "small history-error" }, state.errors.olderJobs) : null,
  );
}

export function mountHistory() {
  watch(["jobs", "models"], render);
}
