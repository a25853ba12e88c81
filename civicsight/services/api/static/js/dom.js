// Small DOM helpers. Data always enters the page as text (textContent), never as HTML.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (id) => document.getElementById(id);

const SVG = "http://www.w3.org/2000/svg";
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.setAttribute("class", value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

export function formatTime(ts) {
  if (ts === null || ts === undefined) return "—";
  const d = new Date(ts * 1000);
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return d.toLocaleTimeString();
  return d.toLocaleString();
}

export function isoTime(ts) {
  return new Date(ts * 1000).toISOString();
}

export function timeEl(ts) {
  return el("time", { datetime: isoTime(ts), title: isoTime(ts), text: formatTime(ts) });
}

export function ago(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "never";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86_400) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86_400) + " d ago";
}

export function duration(seconds) {
  const s = Math.round(seconds);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
}

/** The unix time of an <input type="datetime-local"> value (local time), or null. */
export function fromLocalInput(value) {
  if (!value) return null;
  const t = new Date(value).getTime();
  return Number.isFinite(t) ? t / 1000 : null;
}

export function toLocalInput(ts) {
  const d = new Date(ts * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return (d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T"
    + pad(d.getHours()) + ":" + pad(d.getMinutes()));
}

/** A panel saying what went wrong, with an optional retry button: never a blank panel. */
export function errorBox(message, retry) {
  return el("div", { class: "error-box", role: "alert" },
    el("strong", { text: "Something went wrong. " }),
    el("span", { class: "error-detail", text: message }),
    retry ? el("button", { class: "button button-quiet", type: "button", onclick: retry },
      "Try again") : null);
}

export function emptyBox(text) {
  return el("p", { class: "empty", text });
}

export function loading(text = "Loading…") {
  return el("p", { class: "loading", text });
}

/** Loads a page's own stylesheet once. */
export function useStyle(name) {
  const href = "/static/css/" + name + ".css";
  if (!document.querySelector(`link[href="${href}"]`)) {
    document.head.append(el("link", { rel: "stylesheet", href }));
  }
}

/** A short message at the corner of the screen. kind: info | ok | error. */
export function toast(text, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = el("div", { class: "toast toast-" + kind, role: kind === "error" ? "alert" : "status",
    text });
  box.append(item);
  window.setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

/** A modal dialog; resolves with the form's values (or null when cancelled). */
export function dialog({ title, text, fields = [], submit = "OK", danger = false }) {
  return new Promise((resolve) => {
    const inputs = fields.map((f) => {
      const id = "dlg-" + f.name;
      const input = f.type === "textarea"
        ? el("textarea", { id, name: f.name, rows: 3, required: f.required, minlength: f.minlength,
          maxlength: f.maxlength, placeholder: f.placeholder })
        : f.type === "select"
          ? el("select", { id, name: f.name }, (f.options || []).map((o) =>
            el("option", { value: o.value, text: o.label, selected: o.value === f.value })))
          : el("input", { id, name: f.name, type: f.type || "text", required: f.required,
            minlength: f.minlength, maxlength: f.maxlength, placeholder: f.placeholder,
            min: f.min, max: f.max, value: f.value });
      return el("label", { class: "field", for: id }, el("span", { text: f.label }), input);
    });
    const error = el("p", { class: "error", hidden: true });
    const form = el("form", { class: "dialog-card", method: "dialog" },
      el("h2", { text: title }),
      text ? el("p", { class: "hint", text }) : null,
      ...inputs,
      error,
      el("div", { class: "dialog-actions" },
        el("button", { type: "button", class: "button button-quiet", value: "cancel",
          onclick: () => close(null) }, "Cancel"),
        el("button", { type: "submit", class: danger ? "button button-danger" : "button" },
          submit)));
    const backdrop = el("div", { class: "dialog-backdrop", role: "dialog", "aria-modal": "true",
      "aria-label": title }, form);
    function close(value) {
      backdrop.remove();
      document.removeEventListener("keydown", onKey);
      resolve(value);
    }
    function onKey(event) {
      if (event.key === "Escape") close(null);
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!form.reportValidity()) return;
      const values = {};
      for (const f of fields) values[f.name] = form.elements[f.name].value;
      close(values);
    });
    document.addEventListener("keydown", onKey);
    document.body.append(backdrop);
    const first = form.querySelector("input, textarea, select, button[type=submit]");
    if (first) first.focus();
  });
}
