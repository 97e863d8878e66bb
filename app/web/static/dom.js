// DOM helpers. The one rule of this dashboard: a string from the server is only ever text.
// `h()` turns every string child into a Text node and sets attributes with setAttribute (never
// an event-handler attribute, never `style`), so no data can become markup or script.

const SVG_NS = "http://www.w3.org/2000/svg";

function applyAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name.startsWith("on")) throw new Error(`refusing attribute ${name}`);
    else if (name === "style") throw new Error("inline styles are refused by the CSP");
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** `h("div", {class: "x"}, "text", h("span", null, value))` — strings become text. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

/** Replace every child of `el` with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * Update `el` to show `children`, changing only what differs. A child equal to its new
 * counterpart is kept as it is; an element whose tag and attributes are unchanged is kept and
 * patched inside; a text node takes the new text. So a button under the pointer or holding
 * keyboard focus survives an update that changed nothing about it: rebuilt between mousedown
 * and mouseup, it would lose the click, and a rebuilt element loses focus.
 *
 * A kept element keeps its own event listeners. A handler must therefore not capture data that
 * can change while the element's attributes stay the same: name what it acts on in an
 * attribute (data-download=…), or have the handler look the data up when it runs.
 */
export function patch(el, ...children) {
  const wanted = document.createDocumentFragment();
  append(wanted, children);
  patchChildren(el, Array.from(wanted.childNodes));
  return el;
}

function sameShell(old, next) {
  if (old.nodeType !== Node.ELEMENT_NODE || next.nodeType !== Node.ELEMENT_NODE) return false;
  if (old.namespaceURI !== next.namespaceURI || old.localName !== next.localName) return false;
  if (old.attributes.length !== next.attributes.length) return false;
  for (const attr of next.attributes) {
    if (old.getAttributeNS(attr.namespaceURI, attr.localName) !== attr.value) return false;
  }
  return true;
}

function patchChildren(parent, wanted) {
  wanted.forEach((next, i) => {
    const old = parent.childNodes[i];
    if (!old) parent.appendChild(next);
    else if (old.isEqualNode(next)) return;
    else if (sameShell(old, next)) patchChildren(old, Array.from(next.childNodes));
    else if (old.nodeType === Node.TEXT_NODE && next.nodeType === Node.TEXT_NODE) old.nodeValue = next.nodeValue;
    else parent.replaceChild(next, old);
  });
  while (parent.childNodes.length > wanted.length) parent.lastChild.remove();
}

export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

/**
 * Keyed list update: one child per item, created once by `create(item)` and refreshed by
 * `update(el, item)`; children of items that went away are removed, order follows `items`.
 * Elements keep their own state (an open form, a validation result) across updates.
 */
export function reconcile(container, items, keyOf, create, update) {
  const existing = new Map();
  for (const child of Array.from(container.children)) {
    if (child.dataset.key !== undefined) existing.set(child.dataset.key, child);
    else child.remove();
  }
  let previous = null;
  for (const item of items) {
    const key = String(keyOf(item));
    let el = existing.get(key);
    if (el) existing.delete(key);
    else {
      el = create(item);
      el.dataset.key = key;
    }
    update(el, item);
    const expected = previous ? previous.nextSibling : container.firstChild;
    if (el !== expected) container.insertBefore(el, expected);
    previous = el;
  }
  for (const el of existing.values()) el.remove();
}

/** A status pill: `pill("up", "ok")`. */
export function pill(label, tone) {
  return h("span", { class: ["pill", tone && `pill-${tone}`] }, label);
}

/** A small inline icon (SVG built node by node; no emoji font needed). */
export function icon(name) {
  const paths = {
    lock: [s("rect", { x: 5, y: 11, width: 14, height: 10, rx: 2 }), s("path", { d: "M8 11V8a4 4 0 0 1 8 0v3" })],
    warn: [s("path", { d: "M12 3 2 21h20L12 3z" }), s("path", { d: "M12 10v5M12 18v.5" })],
  };
  return s("svg", { class: `icon icon-${name}`, viewBox: "0 0 24 24", "aria-hidden": "true", focusable: "false" }, paths[name] || []);
}
