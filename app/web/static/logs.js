// The vLLM log viewer: every Spark's container log (or one Spark's), merged by the time vLLM
// wrote on each line, node-coloured, with follow/pause, a text filter and a download.
// It streams only while its panel is open: each open stream runs `docker logs -f` on a Spark.

import { get } from "./api.js";
import { byId, fill, h } from "./dom.js";
import { state, watch } from "./store.js";

const MAX_LINES = 2000;
const BACKLOG = 200;

const view = {
  node: "all",
  filter: "",
  following: true,
  entries: [], // {node, t, line, seq}
  paused: [], // arrived while paused
  source: null,
  status: "",
  seq: 0,
};

let elements = null;

function sparkNames() {
  return state.status && state.status.sparks ? state.status.sparks.map((s) => s.name) : [];
}

function nodeClass(node) {
  const index = sparkNames().indexOf(node);
  return `logs-node logs-node-${index < 0 ? 0 : index % 4}`;
}

/** Insert keeping time order (a line without a time goes last); ties keep arrival order. */
function insert(entry) {
  const list = view.entries;
  let i = list.length;
  if (entry.t) while (i > 0 && list[i - 1].t && list[i - 1].t > entry.t) i -= 1;
  list.splice(i, 0, entry);
  if (list.length > MAX_LINES) list.splice(0, list.length - MAX_LINES);
}

function matches(entry) {
  return !view.filter || entry.line.toLowerCase().includes(view.filter) || entry.node.includes(view.filter);
}

function lineEl(entry) {
  return h("div", { class: "logs-line", "data-test": "log-line", "data-node": entry.node }, h("span", { class: nodeClass(entry.node) }, entry.node), entry.line);
}

function renderLines() {
  if (!elements) return;
  const shown = view.entries.filter(matches);
  fill(elements.lines, shown.map(lineEl));
  if (view.following) elements.lines.scrollTop = elements.lines.scrollHeight;
  const waiting = view.paused.length ? ` · ${view.paused.length} new while paused` : "";
  fill(elements.status, `${view.status}${waiting}`);
  elements.pause.textContent = view.following ? "Pause" : "Follow";
  elements.pause.setAttribute("aria-pressed", view.following ? "false" : "true");
}

function close() {
  if (view.source) view.source.close();
  view.source = null;
}

function open() {
  close();
  view.entries = [];
  view.paused = [];
  view.status = "Connecting…";
  renderLines();
  const source = new EventSource(`/api/logs/vllm/stream?node=${encodeURIComponent(view.node)}&lines=${BACKLOG}`);
  view.source = source;
  source.addEventListener("open", () => {
    view.status = `Following ${view.node === "all" ? "every Spark" : view.node}`;
    renderLines();
  });
  source.addEventListener("log", (message) => {
    const data = JSON.parse(message.data);
    const entry = { node: data.node, t: data.t || null, line: data.line, seq: (view.seq += 1) };
    if (view.following) {
      insert(entry);
      renderLines();
    } else {
      view.paused.push(entry);
      renderLines();
    }
  });
  source.addEventListener("end", (message) => {
    const data = JSON.parse(message.data);
    view.status = `${data.node}: ${data.detail}`;
    renderLines();
  });
  source.addEventListener("error", () => {
    // A refused stream (no container, Spark unreachable) is an HTTP error: EventSource would
    // retry forever; stop and say so, with the server's sentence from a plain GET.
    if (source.readyState === EventSource.CLOSED || !view.entries.length) {
      close();
      explain();
    }
  });
}

async function explain() {
  const result = await get(`/api/logs/vllm?node=${encodeURIComponent(view.node)}&lines=1`);
  view.status = result.ok ? "The log stream was interrupted; close and reopen the panel to retry." : result.detail;
  renderLines();
}

function download() {
  const text = view.entries.filter(matches).map((e) => `${e.node}\t${e.line}`).join("\n") + "\n";
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  const a = h("a", { href: url, download: `vllm-${view.node}.log` });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function build() {
  const select = h("select", { "data-test": "logs-node", "aria-label": "Spark" });
  const filter = h("input", { type: "search", placeholder: "Filter lines", "aria-label": "Filter lines", "data-test": "logs-filter" });
  const pause = h("button", { type: "button", class: "btn", "data-test": "logs-pause" }, "Pause");
  const save = h("button", { type: "button", class: "btn", "data-test": "logs-download" }, "Download");
  const lines = h("div", { class: "logs-view", tabindex: "0", "data-test": "logs-view", "aria-live": "off" });
  const status = h("div", { class: "logs-status small muted", "data-test": "logs-status" });
  select.addEventListener("change", () => {
    view.node = select.value;
    open();
  });
  filter.addEventListener("input", () => {
    view.filter = filter.value.trim().toLowerCase();
    renderLines();
  });
  pause.addEventListener("click", () => {
    view.following = !view.following;
    if (view.following) {
      for (const entry of view.paused) insert(entry);
      view.paused = [];
    }
    renderLines();
  });
  save.addEventListener("click", download);
  fill(byId("logs"), h("div", { class: "logs-bar" }, select, filter, pause, save), status, lines);
  elements = { select, lines, status, pause };
  fillNodes();
}

function fillNodes() {
  if (!elements) return;
  const names = ["all", ...sparkNames()];
  const current = elements.select.value || view.node;
  fill(elements.select, names.map((n) => h("option", { value: n }, n === "all" ? "All Sparks" : n)));
  elements.select.value = names.includes(current) ? current : "all";
}

export function mountLogs() {
  const panel = byId("logs-panel");
  build();
  watch(["status"], fillNodes);
  panel.addEventListener("toggle", () => {
    if (panel.open) open();
    else close();
  });
}
