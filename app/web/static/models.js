// The models: one card each with its source, weights on every Spark and knobs, and the actions
// Swap, Download (then swap), Verify, Validate, Edit knobs, Delete from disk, Dry run (and
// Remove for user-added models); "+ Add model" / "+ Add local model" forms above the list.

import { del, post, put, seg } from "./api.js";
import { confirmAction, toast } from "./dialog.js";
import { byId, fill, h, icon, patch, pill, reconcile } from "./dom.js";
import { downloadBlock, downloading, isRepoModel, startDownload, verifyWeights, weightsLine, weightsMissing } from "./downloads.js";
import { bytes } from "./format.js";
import { buildForm, KNOB_FIELDS } from "./forms.js";
import { lockReason, modelName } from "./header.js";
import { refresh, set, state, upsertJob, watch } from "./store.js";
import { followJob } from "./swap.js";

const KNOB_LABELS = {
  tensor_parallel_size: "TP",
  max_model_len: "max len",
  gpu_memory_utilization: "GPU mem",
  dtype: "dtype",
  quantization: "quant",
  served_model_name: "served as",
  extra_args: "args",
};

function knobChips(knobs) {
  const chips = [];
  for (const [name, label] of Object.entries(KNOB_LABELS)) {
    const value = knobs ? knobs[name] : undefined;
    if (value === undefined || value === null || (Array.isArray(value) && !value.length)) continue;
    const text = Array.isArray(value) ? value.join(" ") : name === "max_model_len" ? Number(value).toLocaleString() : String(value);
    chips.push(h("span", { class: "chip" }, h("span", { class: "chip-label" }, label), " ", text));
  }
  return chips.length ? chips : [h("span", { class: "muted small" }, "vLLM defaults")];
}

function isRunning(model) {
  const m = state.status && state.status.model;
  return model.running || Boolean(m && m.key === model.key && (m.state === "ready" || m.state === "loading"));
}

function swapBlocked() {
  const status = state.status;
  if (status && status.configured === false) return "No Sparks configured";
  const locked = lockReason();
  if (locked) return locked;
  if (status && status.swap && !status.swap.dry_run) return `A swap to ${modelName(status.swap.model_key)} is running`;
  return null;
}

function deleteBlocked(model) {
  if (model.local) return "Local model — Spark Control never deletes local model directories";
  if (isRunning(model)) return "Running model — swap to another model first";
  if (state.status && state.status.swap && !state.status.swap.dry_run) return "A swap is running";
  return null;
}

// --- the panel under a card: validation, knobs form, dry run, deletion results --------------

function panelOf(card) {
  return card.querySelector(":scope > .model-panel");
}

function openPanel(card, title, ...content) {
  const panel = panelOf(card);
  panel.hidden = false;
  fill(
    panel,
    h("div", { class: "panel-head" }, h("h4", null, title), h("button", { type: "button", class: "btn btn-ghost btn-small", "aria-label": "Close", onclick: () => closePanel(card) }, "×")),
    ...content,
  );
  return panel;
}

function closePanel(card) {
  const panel = panelOf(card);
  panel.hidden = true;
  panel.replaceChildren();
}

async function doSwap(model) {
  const running = state.status && state.status.model;
  const ok = await confirmAction({
    title: `Swap to ${model.name}?`,
    body: h(
      "p",
      null,
      running && running.key && running.key !== model.key
        ? `This stops ${modelName(running.key)} for everyone using the cluster, then loads ${model.name} across the Sparks.`
        : `This (re)loads ${model.name} across the Sparks; the LLM endpoint is unavailable while it loads.`,
    ),
    confirm: "Swap",
  });
  if (!ok) return;
  const result = await post("/api/swap", { model_key: model.key });
  if (result.ok) {
    upsertJob(result.data);
    followJob(result.data.job_id, result.data);
    refresh("status");
  } else if (result.status === 409 && result.data && result.data.job_id) {
    toast(result.detail, "bad");
    followJob(result.data.job_id);
  } else {
    if (result.status === 423 && result.data && result.data.lock) set("lock", result.data.lock);
    toast(result.detail, "bad");
  }
}

async function doValidate(card, model) {
  const panel = openPanel(card, `Pre-flight checks for ${model.key}`, h("p", { class: "muted", "data-test": "validating" }, "Running checks on every Spark…"));
  const result = await post(`/api/swap/${seg(model.key)}/validate`);
  if (panel.hidden) return;
  if (!result.ok) {
    openPanel(card, `Pre-flight checks for ${model.key}`, h("p", { class: "bad-text" }, result.detail));
    return;
  }
  const checks = result.data.checks || [];
  const failed = checks.filter((c) => !c.ok).length;
  openPanel(
    card,
    `Pre-flight checks for ${model.key}`,
    h("p", { class: result.data.ok ? "ok-text" : "bad-text", "data-test": "validate-summary" }, result.data.ok ? "All checks passed — ready to swap." : `${failed} of ${checks.length} checks failed.`),
    h(
      "ul",
      { class: "checks", "data-test": "checks" },
      checks.map((c) =>
        h(
          "li",
          { class: ["check", c.ok ? "check-ok" : "check-fail"] },
          h("span", { class: "check-icon", "aria-label": c.ok ? "ok" : "failed" }, c.ok ? "✓" : "✗"),
          h("span", { class: "check-name" }, c.name),
          h("span", { class: "check-detail" }, c.detail),
        ),
      ),
    ),
  );
}

function doEditKnobs(card, model) {
  const defs = KNOB_FIELDS.map((d) => ({ ...d, primary: true }));
  const { form, focus } = buildForm({
    defs,
    values: model.knobs || {},
    submitLabel: "Save knobs",
    busyLabel: "Saving…",
    testId: "knobs-form",
    intro: "Applied from the next swap; the running model keeps its current settings.",
    onSubmit: (body) => put(`/api/models/${seg(model.key)}/knobs`, body),
    onDone: () => {
      closePanel(card);
      toast(`Knobs of ${model.key} saved.`, "ok");
      refresh("models");
    },
    onCancel: () => closePanel(card),
  });
  openPanel(card, `Edit knobs of ${model.key}`, form);
  focus();
}

async function doDryRun(card, model) {
  const panel = openPanel(card, `Dry run: swap to ${model.key}`, h("p", { class: "muted" }, "Planning…"));
  const result = await post("/api/swap", { model_key: model.key, dry_run: true });
  if (panel.hidden) return;
  if (!result.ok) {
    openPanel(card, `Dry run: swap to ${model.key}`, h("p", { class: "bad-text" }, result.detail));
    return;
  }
  const commands = result.data.commands || [];
  openPanel(
    card,
    `Dry run: swap to ${model.key}`,
    h("p", { class: "small muted" }, "The commands a real swap would run, in order. Nothing was run."),
    h("ol", { class: "commands" }, commands.map((c) => h("li", null, h("span", { class: "pill pill-muted" }, c.node), h("code", null, c.command)))),
  );
}

async function doDeleteDisk(card, model) {
  const sizes = Object.entries(model.on_disk || {})
    .map(([node, size]) => `${node}: ${size === null || size === undefined ? "unknown" : bytes(size)}`)
    .join(", ");
  const ok = await confirmAction({
    title: `Delete the weights of ${model.key}?`,
    body: [
      h("p", null, `This deletes ${model.repo}'s Hugging Face cache from every Spark (${sizes || "sizes unknown"}).`),
      h("p", null, "The model stays in the catalog; Download puts the weights back on every Spark."),
    ],
    confirm: "Delete from disk",
    danger: true,
  });
  if (!ok) return;
  openPanel(card, `Deleting the weights of ${model.key}`, h("p", { class: "muted" }, "Deleting on every Spark…"));
  const result = await del(`/api/models/${seg(model.key)}/disk`);
  if (!result.ok) {
    openPanel(card, `Delete from disk`, h("p", { class: "bad-text" }, result.detail));
    return;
  }
  const nodes = Object.entries(result.data.nodes || {});
  openPanel(
    card,
    `Deleted the weights of ${model.key}`,
    h(
      "ul",
      { class: "checks" },
      nodes.map(([node, r]) =>
        h(
          "li",
          { class: ["check", r.ok ? "check-ok" : "check-fail"] },
          h("span", { class: "check-icon" }, r.ok ? "✓" : "✗"),
          h("span", { class: "check-name" }, node),
          h("span", { class: "check-detail" }, r.ok ? `freed ${bytes(r.freed_bytes)}` : r.detail),
        ),
      ),
    ),
  );
  refresh("models");
}

async function doRemove(model) {
  const ok = await confirmAction({
    title: `Remove ${model.key} from the catalog?`,
    body: h("p", null, "Its weights stay on disk (use Delete from disk first to free the space)."),
    confirm: "Remove",
    danger: true,
  });
  if (!ok) return;
  const result = await del(`/api/models/${seg(model.key)}`);
  if (result.ok) {
    toast(`${model.key} removed.`, "ok");
    refresh("models");
  } else toast(result.detail, "bad");
}

// --- cards ----------------------------------------------------------------------------------

// The model each card last showed. The card is patched in place (see patch()), so a button can
// outlive several updates; its handler looks the model up here when it runs.
const shown = new WeakMap();
const modelOf = (card) => shown.get(card);

function create() {
  return h("article", { class: "card model", "data-test": "model" }, h("div", { class: "model-main" }), h("div", { class: "model-panel", hidden: true }));
}

function update(card, model) {
  const running = isRunning(model);
  const swapReason = swapBlocked();
  const deleteReason = deleteBlocked(model);
  card.classList.toggle("model-running", running);
  card.dataset.model = model.key;
  shown.set(card, model);
  const noteId = `note-${model.key}`;
  const notes = [];
  if (swapReason) notes.push(h("div", { class: "model-note", "data-test": "swap-blocked" }, icon("lock"), swapReason));
  if (deleteReason && (model.local || running)) notes.push(h("div", { class: "model-note muted" }, `Delete from disk: ${deleteReason.split(" — ").pop()}`));
  const swapBtn = h("button", { type: "button", class: "btn btn-primary", "data-action": "swap", disabled: Boolean(swapReason), title: swapReason || `Swap the cluster to ${model.name}`, "aria-describedby": swapReason ? noteId : null, onclick: () => doSwap(modelOf(card)) }, "Swap");
  patch(
    card.querySelector(":scope > .model-main"),
    h(
      "header",
      { class: "model-head" },
      h("h3", { class: "model-name" }, model.name),
      h(
        "div",
        { class: "model-badges" },
        running ? pill(state.status && state.status.model && state.status.model.key === model.key ? state.status.model.state : "running", "ok") : null,
        model.local ? pill("local", "accent") : null,
        model.source === "user" ? pill("user", "muted") : null,
      ),
    ),
    h(
      "dl",
      { class: "model-facts" },
      h("dt", null, "Key"),
      h("dd", { class: "mono" }, model.key),
      h("dt", null, model.local ? "Path" : "Repo"),
      h("dd", { class: "mono break" }, model.local ? model.local_path : model.repo),
      h("dt", null, model.local ? "On disk" : "Weights"),
      h("dd", { class: "small" }, weightsLine(model)),
      h("dt", null, "Knobs"),
      h("dd", { class: "chips" }, knobChips(model.knobs)),
    ),
    h(
      "div",
      { class: "model-actions" },
      swapBtn,
      ...downloadButtons(card, model, swapReason),
      h("button", { type: "button", class: "btn", "data-action": "validate", onclick: () => doValidate(card, modelOf(card)) }, "Validate"),
      h("button", { type: "button", class: "btn", "data-action": "knobs", onclick: () => doEditKnobs(card, modelOf(card)) }, "Edit knobs"),
      h("button", { type: "button", class: "btn", "data-action": "dry-run", title: "List the commands a swap would run, without running them", onclick: () => doDryRun(card, modelOf(card)) }, "Dry run"),
      h("button", { type: "button", class: "btn btn-danger-outline", "data-action": "delete-disk", disabled: Boolean(deleteReason), title: deleteReason || "Delete the weights from every Spark", onclick: () => doDeleteDisk(card, modelOf(card)) }, "Delete from disk"),
      model.source === "user" ? h("button", { type: "button", class: "btn btn-ghost", "data-action": "remove", onclick: () => doRemove(modelOf(card)) }, "Remove") : null,
    ),
    downloadBlock(model),
    notes.length ? h("div", { class: "model-notes", id: noteId }, notes) : null,
  );
}

function downloadButtons(card, model, swapReason) {
  if (!isRepoModel(model)) return [];
  const busy = downloading(model);
  const missing = weightsMissing(model);
  const why = busy ? "A download of this model is running" : null;
  const buttons = [
    h("button", { type: "button", class: missing ? "btn btn-primary-outline" : "btn", "data-action": "download", disabled: Boolean(why), title: why || "Download the weights to every Spark (only what is missing or damaged) and verify them", onclick: () => startDownload(modelOf(card), false) }, "Download"),
  ];
  if (missing || busy) {
    const reason = why || swapReason;
    buttons.push(h("button", { type: "button", class: "btn", "data-action": "download-swap", disabled: Boolean(reason), title: reason || "Download the weights to every Spark, verify them, then swap to this model", onclick: () => startDownload(modelOf(card), true) }, "Download, then swap"));
  }
  buttons.push(h("button", { type: "button", class: "btn", "data-action": "verify", title: "Check every planned file's size and sha256 on every Spark", onclick: () => verifyWeights(modelOf(card), (title, ...content) => openPanel(card, title, ...content)) }, "Verify"));
  return buttons;
}

function render() {
  const el = byId("models");
  if (!state.models) {
    if (state.errors.models) fill(el, h("p", { class: "empty" }, `Could not load the models: ${state.errors.models}`));
    return;
  }
  if (!state.models.length) {
    fill(el, h("p", { class: "empty" }, "The catalog is empty. Add a model above."));
    return;
  }
  for (const child of Array.from(el.children)) if (!child.dataset.key) child.remove();
  reconcile(el, state.models, (m) => m.key, create, update);
}

// --- the add forms --------------------------------------------------------------------------

const KEY_FIELD = { name: "key", label: "Key", type: "text", required: true, hint: "lowercase letters, digits, . _ - (e.g. qwen3-32b)" };
const NAME_FIELD = { name: "name", label: "Display name", type: "text", hint: "optional" };
const AFTER = { download: "Download the weights now", swap: "Download, then swap to it", none: "Only add it to the catalog" };
const AFTER_FIELD = { name: "after", label: "Then", type: "select", options: Object.keys(AFTER), labels: AFTER, value: "download" };

function withDownloadChoice(body) {
  const { after = "download", ...rest } = body;
  return { ...rest, download: after !== "none", then_swap: after === "swap" };
}

function openAddForm(local) {
  const slot = byId("model-form-slot");
  const defs = [
    KEY_FIELD,
    NAME_FIELD,
    local
      ? { name: "local_path", label: "Local path", type: "text", required: true, wide: true, placeholder: "/home/nvidia/models/my-finetune", hint: "a directory with config.json, at the same path on every Spark, inside a model root" }
      : { name: "repo", label: "Hugging Face repo", type: "text", required: true, wide: true, placeholder: "org/model-name" },
    ...(local ? [] : [AFTER_FIELD]),
    ...KNOB_FIELDS.map((d) => ({ ...d, knob: true, primary: d.name === "tensor_parallel_size" || d.name === "max_model_len" })),
  ];
  const close = () => {
    slot.hidden = true;
    slot.replaceChildren();
  };
  const { form, focus } = buildForm({
    title: local ? "Add a local model" : "Add a Hugging Face model",
    intro: local
      ? "Serve a fine-tune or other model directory that already exists on every Spark. Spark Control checks the path over SSH."
      : "Spark Control downloads the weights from Hugging Face onto the head, copies them to every other Spark and verifies them; gated models need a token (Configure Sparks).",
    defs,
    submitLabel: "Add model",
    busyLabel: local ? "Checking the path on every Spark…" : "Adding…",
    testId: local ? "add-local-form" : "add-model-form",
    fallbackField: local ? "local_path" : null,
    onSubmit: (body) => post("/api/models", local ? body : withDownloadChoice(body)),
    onDone: (model) => {
      close();
      toast(model.download ? `${model.key} added; downloading its weights.` : `${model.key} added.`, "ok");
      refresh("models");
    },
    onCancel: close,
  });
  slot.hidden = false;
  fill(slot, h("div", { class: "card form-card" }, form));
  focus();
}

export function mountModels() {
  byId("add-model").addEventListener("click", () => openAddForm(false));
  byId("add-local").addEventListener("click", () => openAddForm(true));
  watch(["models", "status", "lock"], render);
}
