// The page's copy of the server's state, one entry per resource, and the only place that
// fetches it. Nothing polls: a resource is refetched when an event says it changed
// (`refresh`), and all of them on load, on `resync` and after the event stream reconnects.
// Refreshes coalesce: while a fetch of a resource is in flight, further requests for it
// collapse into one more fetch after it.

import { get } from "./api.js";

const RESOURCES = {
  status: { path: "/api/status", pick: (d) => d },
  models: { path: "/api/models", pick: (d) => d.models },
  schedules: { path: "/api/schedule", pick: (d) => d.schedules },
  jobs: { path: "/api/swap", pick: (d) => d.jobs },
  endpoints: { path: "/api/endpoints", pick: (d) => d.endpoints },
  history: { path: "/api/gpu/history", pick: (d) => d },
  lock: { path: "/api/swap/lock", pick: (d) => d },
};

export const state = {
  status: null,
  models: null,
  schedules: null,
  jobs: null,
  endpoints: null,
  history: null,
  lock: null,
  // Why a resource could not be loaded (its last error sentence), by name.
  errors: {},
};

const listeners = new Map();
// Bumped by every lock event: a response requested before the newest lock event carries an
// older lock than the page already has, and must not overwrite it.
let lockVersion = 0;
const inflight = new Map();
const again = new Set();

/** Call `fn()` whenever any of `names` changes (and never more than once per frame). */
export function watch(names, fn) {
  let queued = false;
  const run = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      fn();
    });
  };
  for (const name of names) {
    if (!listeners.has(name)) listeners.set(name, new Set());
    listeners.get(name).add(run);
  }
}

export function emit(name) {
  for (const fn of listeners.get(name) || []) fn();
}

/** Replace a resource with a value the page already has (from an event or a response).
 * `asOf`: the lock version when the value was requested (omit for values from events). */
export function set(name, value, asOf) {
  const fresh = asOf === undefined || asOf === lockVersion;
  if (name === "lock" && !fresh) return;
  if (name === "lock" && asOf === undefined) lockVersion += 1;
  state[name] = value;
  delete state.errors[name];
  if (name === "status" && value && value.lock && fresh) {
    state.lock = value.lock;
    emit("lock");
  }
  emit(name);
}

async function load(name) {
  const spec = RESOURCES[name];
  const asOf = lockVersion;
  const result = await get(spec.path);
  if (result.ok && result.data) {
    set(name, spec.pick(result.data), asOf);
  } else {
    state.errors[name] = result.status === 404 ? "not available on this server yet" : result.detail;
    emit(name);
  }
}

/** Fetch `name` again; resolves when the newest state is in. */
export function refresh(name) {
  if (inflight.has(name)) {
    again.add(name);
    return inflight.get(name);
  }
  const promise = (async () => {
    try {
      do {
        again.delete(name);
        await load(name);
      } while (again.has(name));
    } finally {
      inflight.delete(name);
    }
  })();
  inflight.set(name, promise);
  return promise;
}

export function refreshAll() {
  return Promise.all(Object.keys(RESOURCES).map(refresh));
}

/** Refetch `name` at most once per `ms` (for resources whose events are frequent). */
const lastThrottled = new Map();
const pendingThrottled = new Map();
export function refreshAtMost(name, ms) {
  if (pendingThrottled.has(name)) return;
  const wait = Math.max(0, (lastThrottled.get(name) || 0) + ms - Date.now());
  pendingThrottled.set(
    name,
    setTimeout(() => {
      pendingThrottled.delete(name);
      lastThrottled.set(name, Date.now());
      refresh(name);
    }, wait),
  );
}

/** Insert or replace one job in the jobs list (from a `swap` event). */
export function upsertJob(job) {
  if (!job || !job.job_id) return;
  const jobs = (state.jobs || []).filter((j) => j.job_id !== job.job_id);
  jobs.unshift(job);
  jobs.sort((a, b) => (Date.parse(b.started_at) || 0) - (Date.parse(a.started_at) || 0));
  set("jobs", jobs.slice(0, 50));
}
