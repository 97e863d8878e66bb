// The live connection: one EventSource on /api/events. Each event refetches (or, when the
// event carries the whole resource, replaces) what it changed; `resync` and every reconnect
// refetch everything, so a restarted server or a dropped backlog never leaves stale state.
// The browser reconnects by itself after a network error (sending Last-Event-ID); when the
// stream fails for good (an HTTP error), we reopen it with a growing delay.

import { onDownload } from "./downloads.js";
import { clockTime } from "./format.js";
import { emit, refresh, refreshAll, refreshAtMost, set, state, upsertJob } from "./store.js";

const KINDS = ["hello", "swap", "download", "lock", "schedule", "model", "service", "spark", "gpu", "watchdog", "resync"];
const HISTORY_WINDOW_MS = 3600 * 1000;
const FEED_LIMIT = 60;

export const live = { connection: "connecting", feed: [] };

let source = null;
let backoff = 1000;
let hadError = false;
const lastSwapFeed = new Map();

function setConnection(value) {
  if (live.connection !== value) {
    live.connection = value;
    emit("connection");
  }
}

function addFeed(kind, text, tone, at) {
  live.feed.unshift({ kind, text, tone, at: at || new Date().toISOString() });
  live.feed.length = Math.min(live.feed.length, FEED_LIMIT);
  emit("feed");
}

function payload(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    return null;
  }
}

// Events may arrive as the bare resource or wrapped with their time ({id, kind, at, data}).
function unwrap(data) {
  if (data && typeof data === "object" && "data" in data && "kind" in data) return { body: data.data, at: data.at };
  return { body: data, at: data && typeof data === "object" ? data.at : undefined };
}

const TERMINAL = new Set(["ready", "failed", "cancelled"]);

function onSwap(job, at) {
  if (!job || typeof job !== "object" || !job.job_id) {
    refresh("jobs");
    refresh("status");
    return;
  }
  upsertJob(job);
  if (state.status && !job.dry_run) {
    const active = TERMINAL.has(job.state) ? null : job;
    const current = state.status.swap;
    if (active || (current && current.job_id === job.job_id)) set("status", { ...state.status, swap: active });
  }
  if (TERMINAL.has(job.state)) {
    refresh("models");
    refresh("status");
  }
  const summary = `${job.state}${job.phase ? ` · ${job.phase}` : ""}`;
  if (lastSwapFeed.get(job.job_id) !== summary) {
    lastSwapFeed.set(job.job_id, summary);
    const what = job.dry_run ? "Dry run" : "Swap";
    const tone = job.state === "failed" ? "bad" : job.state === "ready" ? "ok" : job.state === "cancelled" ? "warn" : "info";
    addFeed("swap", `${what} to ${job.model_key}: ${summary}${job.error ? ` — ${job.error}` : ""}`, tone, at);
  }
}

// The crash watchdog: crashed, waiting (lock held), restarting, restarted, gave_up. Its
// relaunches are ordinary swap jobs, which the swap card follows like any other.
function onWatchdog(event, at) {
  if (!event || typeof event.message !== "string") return;
  const tone = { crashed: "bad", gave_up: "bad", restarted: "ok", waiting: "warn" }[event.action] || "info";
  addFeed("watchdog", `Watchdog: ${event.message}`, tone, at);
  refresh("status");
}

function onLock(lock, at) {
  if (lock && typeof lock.held === "boolean") {
    set("lock", lock);
    if (state.status) state.status = { ...state.status, lock };
  } else {
    refresh("lock");
  }
  if (lock && lock.held) {
    addFeed("lock", `Swap lock held by ${lock.holder} until ${clockTime(lock.expires_at)}`, "warn", at);
  } else {
    addFeed("lock", "Swap lock released", "info", at);
  }
}

function onSchedule(data, at) {
  refresh("schedules");
  const name = (data && data.schedule && data.schedule.name) || (data && data.id) || "a schedule";
  const action = (data && data.action) || "changed";
  addFeed("schedule", `Schedule ${action}: ${name}`, "info", at);
}

function onModel(data, at) {
  refresh("models");
  refresh("status");
  if (data && data.action) addFeed("model", `Model ${data.action}: ${data.key}`, "info", at);
  else if (data && data.state) {
    const tone = data.state === "ready" ? "ok" : data.state === "failed" ? "bad" : "info";
    addFeed("model", `Running model: ${data.key || data.served_name || "none"} (${data.state})`, tone, at);
  }
}

function onService(data, at) {
  refreshAtMost("status", 300);
  if (data && data.key && data.state) {
    addFeed("service", `Service ${data.key} is ${data.state}`, data.state === "up" ? "ok" : data.state === "down" ? "bad" : "info", at);
  }
}

function onSpark(data, at) {
  refresh("status");
  if (data && data.name) {
    addFeed("spark", `${data.name} is ${data.reachable ? "reachable" : "unreachable"}${!data.reachable && data.detail ? ` — ${data.detail}` : ""}`, data.reachable ? "ok" : "bad", at);
  }
}

// A `gpu` event carries every Spark's reading of one probe round ({t, sparks: {name: gpu}}):
// it is applied to the status and appended to the history here, instead of refetching an
// hour of points every few seconds.
function onGpu(data) {
  if (!data || !data.sparks || typeof data.sparks !== "object") {
    refreshAtMost("status", 1000);
    refreshAtMost("history", 5000);
    return;
  }
  if (state.status && Array.isArray(state.status.sparks)) {
    const sparks = state.status.sparks.map((spark) => (spark.name in data.sparks ? { ...spark, gpu: data.sparks[spark.name] } : spark));
    state.status = { ...state.status, sparks };
    emit("status");
  }
  if (state.history && state.history.sparks && data.t) {
    const cutoff = Date.parse(data.t) - HISTORY_WINDOW_MS;
    const sparks = { ...state.history.sparks };
    for (const [name, gpu] of Object.entries(data.sparks)) {
      const g = gpu || {};
      const point = {
        t: data.t,
        util: g.utilization_pct ?? null,
        mem_used_mib: g.memory_used_mib ?? null,
        mem_total_mib: g.memory_total_mib ?? null,
        temp_c: g.temperature_c ?? null,
        power_w: g.power_w ?? null,
      };
      sparks[name] = [...(sparks[name] || []).filter((p) => Date.parse(p.t) >= cutoff), point];
    }
    state.history = { ...state.history, sparks };
    emit("history");
  }
}

function handle(kind, event) {
  const { body, at } = unwrap(payload(event));
  switch (kind) {
    case "swap":
      return onSwap(body, at);
    case "download":
      return onDownload(body, at, addFeed);
    case "lock":
      return onLock(body, at);
    case "schedule":
      return onSchedule(body, at);
    case "model":
      return onModel(body, at);
    case "service":
      return onService(body, at);
    case "spark":
      return onSpark(body, at);
    case "gpu":
      return onGpu(body, at);
    case "watchdog":
      return onWatchdog(body, at);
    case "hello":
      return undefined;
    case "resync":
      addFeed("resync", "Resynchronised with Spark Control", "info", at);
      return refreshAll();
    default:
      return undefined;
  }
}

export function connect() {
  if (source) source.close();
  source = new EventSource("/api/events");
  for (const kind of KINDS) source.addEventListener(kind, (event) => handle(kind, event));
  source.addEventListener("open", () => {
    setConnection("live");
    backoff = 1000;
    // Whatever happened while we were not listening (or before the first connection) is
    // only in the resources themselves: fetch them all again.
    refreshAll();
    if (hadError) addFeed("resync", "Reconnected to Spark Control", "ok");
    hadError = false;
  });
  source.addEventListener("error", () => {
    hadError = true;
    setConnection("reconnecting");
    if (source.readyState === EventSource.CLOSED) {
      source.close();
      source = null;
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 15000);
    }
  });
}
