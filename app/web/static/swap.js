// Swap progress: the phases as steps, a progress bar, the live log from the job's own SSE
// stream, Cancel, and the result. It follows any real swap that is running (whoever started
// it) and, after a reload, the job this tab last followed: its stream replays from the first
// event, so the steps and the whole log come back. Within one page the browser resumes a
// dropped stream with Last-Event-ID by itself; ids already seen are ignored.

import { get, post, seg } from "./api.js";
import { confirmAction, toast } from "./dialog.js";
import { byId, fill, h, patch, pill } from "./dom.js";
import { absolute, duration, elapsed } from "./format.js";
import { modelName } from "./header.js";
import { originText } from "./history.js";
import { refresh, state, upsertJob, watch } from "./store.js";

// "rolling_back" is shown only when a failed swap relaunches the previous model.
const PHASES = ["preflight", "stopping", "launching", "loading", "verifying", "rolling_back"];
const PHASE_LABEL = { preflight: "Pre-flight", stopping: "Stopping", launching: "Launching", loading: "Loading", verifying: "Verifying", rolling_back: "Rolling back" };
const TERMINAL = new Set(["ready", "failed", "cancelled"]);
const SESSION_KEY = "spark-control.swap-job";
const MAX_LINES = 1500;

let current = null; // {jobId, job, source, lastId, lastPhase, lineCount}

function remember(jobId) {
  try {
    if (jobId) sessionStorage.setItem(SESSION_KEY, jobId);
    else sessionStorage.removeItem(SESSION_KEY);
  } catch {
    // Storage may be unavailable (private mode); a reload then shows only running swaps.
  }
}

function remembered() {
  try {
    return sessionStorage.getItem(SESSION_KEY);
  } catch {
    return null;
  }
}

function section() {
  return byId("swap-section");
}

function skeleton() {
  const el = section();
  el.hidden = false;
  fill(
    el,
    h("header", { class: "swap-head" }, h("div", { class: "swap-title" }), h("div", { class: "swap-controls" })),
    h("ol", { class: "steps", "data-test": "swap-steps" }, PHASES.map((p) => h("li", { class: "step", "data-phase": p }, h("span", { class: "step-dot", "aria-hidden": "true" }), h("span", { class: "step-label" }, PHASE_LABEL[p])))),
    h(
      "div",
      { class: "progress-row" },
      h("div", { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "data-test": "swap-progress" }, h("div", { class: "progress-fill" })),
      h("span", { class: "progress-text mono" }, "0 %"),
    ),
    h("p", { class: "swap-held small", "data-test": "swap-held", hidden: true }),
    h("div", { class: "swap-result", "data-test": "swap-result", hidden: true }),
    h("details", { class: "log-wrap", open: true }, h("summary", null, "Live log ", h("span", { class: "log-count muted small" })), h("pre", { class: "log", "data-test": "swap-log", tabindex: "0" })),
  );
}

function render() {
  if (!current) return;
  const el = section();
  const job = current.job || { job_id: current.jobId, state: "queued", progress: 0 };
  const terminal = TERMINAL.has(job.state);
  const name = job.model_key ? modelName(job.model_key) : "…";
  const tone = { ready: "ok", failed: "bad", cancelled: "warn" }[job.state] || "info";
  const title = terminal ? { ready: `Swapped to ${name}`, failed: `Swap to ${name} failed`, cancelled: `Swap to ${name} cancelled` }[job.state] : `Swapping to ${name}`;
  const started = job.started_at ? `started ${absolute(job.started_at)}` : "";
  const took = elapsed(job.started_at, job.finished_at || null);
  patch(
    el.querySelector(".swap-title"),
    h("h2", null, title),
    h(
      "div",
      { class: "swap-meta small muted" },
      pill(job.state, tone),
      " ",
      h("span", { class: "mono" }, `job ${job.job_id}`),
      started ? ` · ${started}` : "",
      job.origin && job.origin.kind !== "api" && job.origin.kind !== "dashboard" ? h("span", { "data-test": "swap-origin" }, ` · ${originText(job.origin)}`) : "",
      " · ",
      h("span", { "data-elapsed": terminal ? "" : job.started_at || "" }, took === null ? "" : duration(took)),
      !terminal && current.typical ? h("span", { "data-test": "swap-eta" }, ` · usually takes ${duration(current.typical)}`) : "",
    ),
  );
  const controls = el.querySelector(".swap-controls");
  if (terminal) {
    patch(controls, h("button", { type: "button", class: "btn btn-ghost", "data-test": "swap-dismiss", "aria-label": "Dismiss", onclick: dismiss }, "Dismiss"));
  } else {
    patch(controls, h("button", { type: "button", class: "btn btn-danger-outline", "data-test": "swap-cancel", onclick: cancel }, "Cancel swap"));
  }
  if (job.state === "running" && job.phase) {
    if (job.phase === "rolling_back" && current.lastPhase !== "rolling_back") current.failedPhase = current.lastPhase;
    current.lastPhase = job.phase;
  }
  // A rollback: the step that failed stays failed; the rollback step follows the relaunch.
  const rolling = current.lastPhase === "rolling_back";
  const at = PHASES.indexOf(rolling ? current.failedPhase : current.lastPhase);
  for (const li of el.querySelectorAll(".step")) {
    const i = PHASES.indexOf(li.dataset.phase);
    let cls = "todo";
    if (li.dataset.phase === "rolling_back") {
      li.hidden = !rolling;
      if (rolling) cls = !terminal ? "current" : job.rolled_back_to && job.rolled_back_to.ready ? "done" : "failed";
    } else if (job.state === "ready") cls = "done";
    else if (i < at) cls = "done";
    else if (i === at) cls = rolling || (terminal && job.state === "failed") ? "failed" : terminal ? "stopped" : "current";
    li.className = `step step-${cls}`;
    li.setAttribute("aria-current", cls === "current" ? "step" : "false");
  }
  const pct = Math.round((job.progress || 0) * 100);
  const bar = el.querySelector(".progress");
  bar.setAttribute("aria-valuenow", String(pct));
  bar.className = `progress progress-${tone}`;
  el.querySelector(".progress-fill").style.width = `${pct}%`;
  el.querySelector(".progress-text").textContent = `${pct} %`;
  const held = el.querySelector(".swap-held");
  held.hidden = terminal || !job.held_requests;
  held.textContent = job.held_requests ? `${job.held_requests} request${job.held_requests === 1 ? "" : "s"} waiting for ${name}; served as soon as it is ready.` : "";
  const result = el.querySelector(".swap-result");
  const rolled = job.rolled_back_to;
  const rollback = rolled ? h("span", { "data-test": "swap-rollback" }, rolled.ready ? ` Rolled back: ${modelName(rolled.model_key)} is serving again.` : ` The rollback to ${modelName(rolled.model_key)} did not complete.`) : null;
  if (terminal) {
    result.hidden = false;
    result.className = `swap-result result-${tone}`;
    if (job.state === "ready") fill(result, h("strong", null, "Ready. "), `${name} is serving on the cluster.`);
    else if (job.state === "failed") fill(result, h("strong", null, "Failed: "), job.error || "the swap failed.", job.returncode !== null && job.returncode !== undefined ? h("span", { class: "muted" }, ` (exit code ${job.returncode})`) : null, rollback);
    else fill(result, h("strong", null, "Cancelled. "), job.error || "", " The cluster was left stopped.");
  } else {
    result.hidden = true;
  }
}

function appendLine(data) {
  const log = section().querySelector(".log");
  if (!log) return;
  const stick = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  const line = h("span", { class: "log-line" }, h("span", { class: "log-node" }, String((data && data.node) || "")), " ", String((data && data.line) || ""), "\n");
  log.appendChild(line);
  current.lineCount += 1;
  while (log.childElementCount > MAX_LINES) log.firstElementChild.remove();
  section().querySelector(".log-count").textContent = `(${current.lineCount} lines)`;
  if (stick) log.scrollTop = log.scrollHeight;
}

function fresh(event) {
  const id = Number(event.lastEventId);
  if (!Number.isFinite(id) || id <= 0) return true;
  if (id <= current.lastId) return false;
  current.lastId = id;
  return true;
}

function open(jobId) {
  const source = new EventSource(`/api/swap/${seg(jobId)}/stream`);
  current.source = source;
  source.addEventListener("state", (event) => {
    if (!current || current.source !== source || !fresh(event)) return;
    let job;
    try {
      job = JSON.parse(event.data);
    } catch {
      return;
    }
    current.job = job;
    render();
    if (TERMINAL.has(job.state)) {
      // The stream ends after the terminal state; closing first stops the browser reconnecting.
      source.close();
      upsertJob(job);
      refresh("models");
      refresh("status");
    }
  });
  source.addEventListener("log", (event) => {
    if (!current || current.source !== source || !fresh(event)) return;
    try {
      appendLine(JSON.parse(event.data));
    } catch {
      // a malformed line is skipped
    }
  });
  source.addEventListener("error", async () => {
    if (!current || current.source !== source || source.readyState !== EventSource.CLOSED) return;
    // The stream failed for good (an HTTP error): ask what became of the job.
    const result = await get(`/api/swap/${seg(jobId)}`);
    if (!current || current.source !== source) return;
    if (result.ok) {
      current.job = result.data;
      render();
      if (!TERMINAL.has(result.data.state)) setTimeout(() => current && current.source === source && open(jobId), 2000);
    } else if (result.status === 404) {
      forget(`Swap job ${jobId} is no longer known to Spark Control (it may have restarted).`);
    } else {
      setTimeout(() => current && current.source === source && open(jobId), 3000);
    }
  });
}

/** Show job `jobId` (a real swap) and follow its stream. Does nothing if already shown. */
export function followJob(jobId, job) {
  if (!jobId) return;
  if (current && current.jobId === jobId) return;
  if (current && current.source) current.source.close();
  current = { jobId, job: job || null, source: null, lastId: 0, lastPhase: null, lineCount: 0, typical: null };
  remember(jobId);
  skeleton();
  render();
  open(jobId);
  if (job && job.model_key) learnTypical(jobId, job.model_key);
}

/** The model's median swap time from the history (GET /api/models/{key}/stats), as an ETA. */
async function learnTypical(jobId, modelKey) {
  const result = await get(`/api/models/${seg(modelKey)}/stats`);
  if (!result.ok || !current || current.jobId !== jobId) return;
  current.typical = result.data.total.median_s;
  render();
}

function forget(message) {
  if (current && current.source) current.source.close();
  current = null;
  remember(null);
  section().hidden = true;
  section().replaceChildren();
  if (message) toast(message, "info");
}

function dismiss() {
  forget();
}

async function cancel() {
  if (!current) return;
  const jobId = current.jobId;
  const ok = await confirmAction({
    title: "Cancel this swap?",
    body: h("p", null, "The launch is stopped and the cluster is left with no model running until the next swap."),
    confirm: "Cancel swap",
    danger: true,
  });
  if (!ok) return;
  const result = await post(`/api/swap/${seg(jobId)}/cancel`);
  if (!result.ok) toast(result.detail, "bad");
}

function autoFollow() {
  // Real swaps are single-flight: at most one is running, and whoever started it, we show it.
  const running = (state.status && state.status.swap && !state.status.swap.dry_run && state.status.swap) || (state.jobs || []).find((j) => !j.dry_run && !TERMINAL.has(j.state));
  if (running && (!current || current.jobId !== running.job_id)) followJob(running.job_id, running);
}

/** Called every second: the elapsed time of a running swap. */
export function tickSwap() {
  for (const el of document.querySelectorAll("[data-elapsed]")) {
    if (!el.dataset.elapsed) continue;
    const s = elapsed(el.dataset.elapsed, null);
    if (s !== null) el.textContent = duration(s);
  }
}

export function mountSwap() {
  const saved = remembered();
  if (saved && /^[a-f0-9]{8}$/.test(saved)) followJob(saved);
  watch(["status", "jobs"], autoFollow);
  watch(["models"], render);
}
