// The schedule registry: what external schedulers will do to the GPU and when. Spark Control
// only shows these entries; it never runs them.

import { describeCron } from "./cron.js";
import { byId, fill, h, reconcile } from "./dom.js";
import { absolute, parseTime, relative } from "./format.js";
import { refresh, state, watch } from "./store.js";

function create() {
  return h("article", { class: "schedule", "data-test": "schedule" });
}

function update(el, sched) {
  const human = describeCron(sched.cron);
  fill(
    el,
    h(
      "header",
      { class: "schedule-head" },
      h("h3", { class: "schedule-name", "data-test": "schedule-name" }, sched.name),
      sched.owner ? h("span", { class: "schedule-owner small muted" }, "by ", h("strong", null, sched.owner)) : null,
    ),
    h(
      "div",
      { class: "schedule-when" },
      sched.next_run
        ? [h("span", { class: "schedule-next" }, "Next: ", h("strong", null, absolute(sched.next_run))), " ", h("span", { class: "muted", "data-rel": sched.next_run }, relative(sched.next_run))]
        : h("span", { class: "muted" }, "No next run given"),
    ),
    sched.cron
      ? h("div", { class: "schedule-cron small" }, h("code", null, sched.cron), human ? h("span", { class: "muted" }, ` — ${human}`) : null)
      : null,
    sched.description ? h("p", { class: "schedule-desc small" }, sched.description) : null,
    h("div", { class: "schedule-id small muted" }, h("span", { class: "mono" }, sched.id)),
  );
}

function render() {
  const el = byId("schedules");
  if (!state.schedules) {
    if (state.errors.schedules) fill(el, h("p", { class: "empty" }, `Could not load the schedules: ${state.errors.schedules}`));
    return;
  }
  if (!state.schedules.length) {
    fill(el, h("p", { class: "empty" }, "No schedules registered. Automation registers its jobs with POST /api/schedule."));
    return;
  }
  const sorted = [...state.schedules].sort((a, b) => (parseTime(a.next_run) ?? Infinity) - (parseTime(b.next_run) ?? Infinity) || a.name.localeCompare(b.name));
  for (const child of Array.from(el.children)) if (!child.dataset.key) child.remove();
  reconcile(el, sorted, (x) => x.id, create, update);
}

/** Called every second: relative times, and a refetch once a next run has passed (the
 * registry then computes the following one). */
let refetchedFor = new Set();
export function tickSchedules() {
  const now = Date.now();
  let due = false;
  for (const el of document.querySelectorAll("[data-rel]")) {
    el.textContent = relative(el.dataset.rel, now);
    const t = parseTime(el.dataset.rel);
    if (t !== null && t < now - 2000 && el.closest(".schedule") && !refetchedFor.has(el.dataset.rel)) {
      refetchedFor.add(el.dataset.rel);
      due = true;
    }
  }
  if (due) refresh("schedules");
  if (refetchedFor.size > 500) refetchedFor = new Set();
}

export function mountSchedules() {
  watch(["schedules"], render);
}
