// Activity: the recent swap jobs and a live feed of what /api/events reported.

import { byId, fill, h, pill } from "./dom.js";
import { clockTime, duration, elapsed, relative } from "./format.js";
import { modelName } from "./header.js";
import { live } from "./live.js";
import { state, watch } from "./store.js";

const JOB_TONE = { ready: "ok", failed: "bad", cancelled: "warn", running: "info", queued: "muted" };
const SHOWN_JOBS = 8;

function renderJobs() {
  const el = byId("jobs");
  const jobs = state.jobs;
  if (!jobs) {
    if (state.errors.jobs) fill(el, h("li", { class: "empty" }, state.errors.jobs));
    return;
  }
  if (!jobs.length) {
    fill(el, h("li", { class: "empty" }, "No swaps since Spark Control started."));
    return;
  }
  fill(
    el,
    jobs.slice(0, SHOWN_JOBS).map((job) => {
      const took = elapsed(job.started_at, job.finished_at);
      return h(
        "li",
        { class: "job", "data-test": "job" },
        h(
          "div",
          { class: "job-head" },
          pill(job.state, JOB_TONE[job.state] || "muted"),
          h("strong", { class: "job-model" }, modelName(job.model_key)),
          job.dry_run ? h("span", { class: "pill pill-muted" }, "dry run") : null,
        ),
        h(
          "div",
          { class: "job-meta small muted" },
          h("span", { "data-rel": job.started_at }, relative(job.started_at)),
          job.finished_at && took !== null ? ` · took ${duration(took)}` : job.phase ? ` · ${job.phase}` : "",
          " · ",
          h("span", { class: "mono" }, job.job_id),
        ),
        job.error && job.state !== "ready" ? h("div", { class: "job-error small" }, job.error) : null,
      );
    }),
  );
}

function renderFeed() {
  const el = byId("feed");
  if (!live.feed.length) {
    fill(el, h("li", { class: "empty" }, "Waiting for events…"));
    return;
  }
  fill(
    el,
    live.feed.map((item) =>
      h(
        "li",
        { class: ["feed-item", `feed-${item.tone || "info"}`], "data-test": "feed-item" },
        h("div", { class: "feed-meta" }, h("time", { class: "mono small muted", datetime: item.at }, clockTime(item.at)), h("span", { class: "feed-kind" }, item.kind)),
        h("span", { class: "feed-text" }, item.text),
      ),
    ),
  );
}

export function mountActivity() {
  watch(["jobs", "models"], renderJobs);
  watch(["feed"], renderFeed);
  renderFeed();
}
