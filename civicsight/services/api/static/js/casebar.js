// The case bar: investigators state a case id, a purpose and its kind once; every search,
// track view, crop and export of the session then carries them (and the audit log keeps
// them). Kept in sessionStorage: it ends with the browser tab.

import { $, el } from "./dom.js";

const KEY = "civicsight.case";
export const CATEGORIES = [
  ["missing_person", "Missing person"],
  ["theft", "Theft or burglary"],
  ["violence", "Violent crime"],
  ["traffic_collision", "Traffic collision"],
  ["public_safety", "Public safety"],
  ["other", "Other"],
];
const CASE_PATTERN = "[A-Za-z0-9][A-Za-z0-9._\\/\\-]{0,63}";

const listeners = new Set();
let current = load();

function load() {
  try {
    const raw = window.sessionStorage.getItem(KEY);
    return raw ? JSON.parse(raw) : null;
  } catch (_err) {
    return null;
  }
}

function save(value) {
  current = value;
  try {
    if (value) window.sessionStorage.setItem(KEY, JSON.stringify(value));
    else window.sessionStorage.removeItem(KEY);
  } catch (_err) {
    // kept in memory only
  }
  for (const fn of listeners) fn(value);
}

/** {case, purpose, category} for a search's query, or null before a case is stated. */
export function caseParams() {
  return current ? { case: current.case, purpose: current.purpose, category: current.category }
    : null;
}

export function onCaseChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function clearCase() {
  save(null);
}

function categoryLabel(value) {
  const found = CATEGORIES.find(([v]) => v === value);
  return found ? found[1] : value;
}

function editForm(bar) {
  const caseInput = el("input", { id: "case-input", type: "text", spellcheck: "false",
    maxlength: 64, pattern: CASE_PATTERN, placeholder: "e.g. 2026-0142", required: true,
    value: current ? current.case : "" });
  const purpose = el("input", { id: "purpose-input", type: "text", minlength: 5, maxlength: 500,
    placeholder: "why you search (kept in the audit log)", required: true,
    value: current ? current.purpose : "" });
  const kind = el("select", { id: "category-input" }, CATEGORIES.map(([v, label]) =>
    el("option", { value: v, text: label, selected: current ? current.category === v : v === "other" })));
  const form = el("form", { id: "case-form", class: "case-form", autocomplete: "off" },
    el("label", { for: "case-input", text: "Case" }), caseInput,
    el("label", { for: "purpose-input", text: "Purpose" }), purpose,
    el("label", { for: "category-input", text: "Kind" }), kind,
    el("button", { type: "submit", id: "case-submit", class: "button" }, "Set case"),
    current ? el("button", { type: "button", class: "button button-quiet",
      onclick: () => show(bar) }, "Cancel") : null);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    save({ case: caseInput.value.trim(), purpose: purpose.value.trim(), category: kind.value });
    show(bar);
  });
  return form;
}

function show(bar, editing = false) {
  if (!current || editing) {
    bar.replaceChildren(el("span", { class: "casebar-note",
      text: "Every search is logged with your case and purpose." }), editForm(bar));
    return;
  }
  bar.replaceChildren(
    el("span", { class: "casebar-label", text: "Case" }),
    el("strong", { id: "case-current", text: current.case }),
    el("span", { class: "casebar-purpose", text: current.purpose }),
    el("span", { class: "pill", text: categoryLabel(current.category) }),
    el("button", { type: "button", id: "case-change", class: "button button-quiet",
      onclick: () => show(bar, true) }, "Change case"));
}

/** Fills the bar for roles that search (the router shows it on pages that search). */
export function mountCaseBar(me) {
  const bar = $("casebar");
  const searches = me && me.permissions.includes("search");
  bar.hidden = true;
  if (!searches) {
    bar.replaceChildren();
    return;
  }
  show(bar);
}

/** A prompt that stands in for search results until a case is stated. */
export function casePrompt() {
  return el("div", { class: "case-prompt", role: "note" },
    el("strong", { text: "State a case first." }),
    el("span", { text: " Searches need a case id and a purpose (the bar above); both go to "
      + "the audit log with what you searched and what you saw." }));
}
