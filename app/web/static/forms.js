// Forms for models: the vLLM knob fields, "+ Add model" / "+ Add local model", and putting the
// server's 400 sentence next to the field it names.

import { h } from "./dom.js";

export const KNOB_FIELDS = [
  { name: "tensor_parallel_size", label: "Tensor parallel size", type: "int", hint: "GPUs to shard across (1–8); 2 = both Sparks" },
  { name: "max_model_len", label: "Max model length", type: "int", hint: "context length in tokens" },
  { name: "gpu_memory_utilization", label: "GPU memory utilisation", type: "float", hint: "share of GPU memory vLLM may use, e.g. 0.85" },
  { name: "dtype", label: "dtype", type: "select", options: ["", "auto", "half", "float16", "bfloat16", "float", "float32"] },
  { name: "quantization", label: "Quantization", type: "text", hint: "e.g. fp8, awq" },
  { name: "served_model_name", label: "Served model name", type: "text", hint: "the name clients ask for; default: the key" },
  { name: "extra_args", label: "Extra vLLM arguments", type: "args", hint: "space-separated, e.g. --max-num-seqs 8" },
];

let fieldCounter = 0;

function inputFor(def, value) {
  const id = `f${++fieldCounter}-${def.name}`;
  let input;
  if (def.type === "select") {
    const label = (o) => (def.labels && def.labels[o]) || o || "(default)";
    input = h("select", { id, name: def.name }, def.options.map((o) => h("option", { value: o }, label(o))));
    input.value = value ?? def.value ?? "";
  } else {
    const attrs = { id, name: def.name, type: "text", autocomplete: "off", spellcheck: "false" };
    if (def.type === "int") Object.assign(attrs, { type: "number", inputmode: "numeric", step: "1", min: "1" });
    if (def.type === "float") Object.assign(attrs, { type: "number", inputmode: "decimal", step: "0.01", min: "0", max: "1" });
    if (def.placeholder) attrs.placeholder = def.placeholder;
    input = h("input", attrs);
    if (def.type === "args") input.value = (value || []).join(" ");
    else input.value = value ?? "";
  }
  return input;
}

/** One labelled field: {el, input, error, def}. */
export function field(def, value) {
  const input = inputFor(def, value);
  const error = h("div", { class: "field-error", id: `${input.id}-error`, "data-field-error": def.name });
  input.setAttribute("aria-describedby", error.id);
  const el = h(
    "div",
    { class: ["field", def.wide && "field-wide"] },
    h("label", { for: input.id }, def.label, def.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
    input,
    def.hint ? h("div", { class: "field-hint" }, def.hint) : null,
    error,
  );
  return { el, input, error, def };
}

/** The value of a field for a JSON body; undefined when empty. Raises on a non-number. */
export function valueOf(f) {
  const raw = f.input.value.trim();
  if (f.input.validity && f.input.validity.badInput) throw new FieldError(f.def.name, "not a number");
  if (raw === "") return undefined;
  if (f.def.type === "int") return Number.parseInt(raw, 10);
  if (f.def.type === "float") return Number(raw);
  if (f.def.type === "args") return raw.split(/\s+/);
  return raw;
}

export class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

/** Clear every error message of a form. */
export function clearErrors(fields, formError) {
  for (const f of fields) {
    f.error.textContent = "";
    f.input.removeAttribute("aria-invalid");
  }
  formError.textContent = "";
}

/**
 * Show the server's sentence next to the field it names (the field whose name appears first
 * in it), or under the form when it names none; `fallback` names a field to use instead.
 */
export function showError(fields, formError, detail, fallback) {
  let best = null;
  let bestAt = Infinity;
  for (const f of fields) {
    const match = new RegExp(`(^|[^A-Za-z0-9_])${f.def.name}([^A-Za-z0-9_]|$)`).exec(detail);
    if (match && match.index < bestAt) {
      best = f;
      bestAt = match.index;
    }
  }
  if (!best && fallback) best = fields.find((f) => f.def.name === fallback) || null;
  if (best) {
    best.error.textContent = detail;
    best.input.setAttribute("aria-invalid", "true");
    best.input.focus();
  } else {
    formError.textContent = detail;
  }
}

/**
 * A form: `fields` (definitions with current values), `onSubmit(body)` returning an api
 * result; on failure its detail is shown by the field. Resolves nothing; calls `onDone(data)`.
 */
export function buildForm({ title, defs, values = {}, submitLabel, busyLabel, onSubmit, onDone, onCancel, fallbackField, testId, intro }) {
  const fields = defs.map((def) => field(def, values[def.name]));
  const formError = h("div", { class: "form-error", role: "alert", "data-test": "form-error" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, submitLabel);
  const cancel = h("button", { type: "button", class: "btn", onclick: () => onCancel && onCancel() }, "Cancel");
  const main = fields.filter((f) => !f.def.knob || f.def.primary);
  const knobs = fields.filter((f) => f.def.knob && !f.def.primary);
  const form = h(
    "form",
    { class: "form", novalidate: true, "data-test": testId },
    title ? h("h3", { class: "form-title" }, title) : null,
    intro ? h("p", { class: "form-intro small muted" }, intro) : null,
    h("div", { class: "form-grid" }, main.map((f) => f.el)),
    knobs.length ? h("details", { class: "form-more" }, h("summary", null, "More vLLM knobs"), h("div", { class: "form-grid" }, knobs.map((f) => f.el))) : null,
    formError,
    h("div", { class: "form-actions" }, cancel, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(fields, formError);
    const body = {};
    try {
      for (const f of fields) {
        const v = valueOf(f);
        if (v === undefined) continue;
        if (f.def.knob) (body.knobs ||= {})[f.def.name] = v;
        else body[f.def.name] = v;
      }
    } catch (err) {
      if (err instanceof FieldError) return showError(fields, formError, `${err.field}: ${err.message}`);
      throw err;
    }
    submit.disabled = true;
    submit.textContent = busyLabel || submitLabel;
    const result = await onSubmit(body);
    submit.disabled = false;
    submit.textContent = submitLabel;
    if (result.ok) onDone(result.data);
    else showError(fields, formError, result.detail, fallbackField);
  });
  return { form, fields, focus: () => fields[0] && fields[0].input.focus() };
}
