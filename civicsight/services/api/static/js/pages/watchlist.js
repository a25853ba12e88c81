// Watchlist: the only faces the hub can recognise, for investigators.
//
// The list shows every live entry with its case, reason, who added it and the days left
// (an entry is deleted at expiry; fewer than 7 days left is highlighted). Adding a person
// takes a photo that shows only them (dropped on the form or chosen), a label, the case
// (prefilled from the case bar), a reason, an expiry of at most 365 days and the
// watchlist; the hub enrols it with the faces service's own models and refuses a photo
// without exactly one clear face, saying why. Removing asks for a reason. The label is
// the person's name or alias: it stays on this page and never goes to the audit log.

import { getJson, request } from "../api.js";
import { caseParams, onCaseChange } from "../casebar.js";
import { dialog, el, emptyBox, errorBox, timeEl, toast, useStyle } from "../dom.js";
import { faceCamerasPanel } from "../parts/facecams.js";

const MAX_PHOTO_BYTES = 2 * 1024 * 1024;
const ID_PATTERN = "[a-z0-9][a-z0-9_.\\-]{0,63}";
const CASE_PATTERN = "[A-Za-z0-9][A-Za-z0-9._\\/\\-]{0,63}";

function daysLeft(entry) {
  const d = entry.days_left;
  const n = Math.round(d);
  const text = d < 1 ? "under a day" : `${n} day${n === 1 ? "" : "s"}`;
  const tone = d < 1 ? "pill-bad" : entry.expiring_soon ? "pill-warn" : "pill-ok";
  return el("span", { class: `pill days-left ${tone}`, title: "deleted at expiry", text });
}

export async function render(root, ctx) {
  useStyle("watchlist");
  let entries = [];
  let maxDays = 365;
  let chosen = null; // the File to enrol
  let previewUrl = null;

  const tableBox = el("div", { class: "table-wrap", id: "watchlist-box" },
    el("p", { class: "loading", text: "Loading…" }));
  const count = el("span", { class: "count" });

  // ---- the add form ----
  const fileInput = el("input", { id: "wl-photo", type: "file", accept: "image/jpeg,image/png",
    class: "visually-hidden" });
  const emptyPreview = () => [
    el("span", { class: "wl-drop-text", text: "Drop a photo here or choose one" }),
    el("span", { class: "hint wl-drop-hint", text: "JPEG or PNG, at most 2 MB, showing only the person" }),
  ];
  const preview = el("div", { class: "wl-preview", id: "wl-preview" }, emptyPreview());
  const drop = el("label", { class: "wl-drop", for: "wl-photo", tabindex: "0" }, preview);
  const label = el("input", { id: "wl-label", type: "text", required: true, maxlength: 120,
    autocomplete: "off", placeholder: "name or alias" });
  const caseInput = el("input", { id: "wl-case", type: "text", required: true, maxlength: 64,
    pattern: CASE_PATTERN, spellcheck: "false", placeholder: "e.g. 2026-0142",
    value: caseParams() ? caseParams().case : "" });
  const reason = el("textarea", { id: "wl-reason", rows: 2, required: true, minlength: 5,
    maxlength: 500, placeholder: "why this person is on the watchlist" });
  const days = el("input", { id: "wl-days", type: "number", required: true, min: 1, max: 365,
    step: 1, value: 30 });
  const watchlistIds = el("datalist", { id: "wl-watchlists" });
  const watchlistInput = el("input", { id: "wl-watchlist", type: "text", required: true,
    maxlength: 64, pattern: ID_PATTERN, spellcheck: "false", value: "missing",
    list: "wl-watchlists" });
  const expiry = el("span", { class: "hint wl-expiry" });
  const error = el("p", { class: "error", id: "wl-error", role: "alert", hidden: true });
  const submit = el("button", { type: "submit", class: "button", id: "wl-submit" }, "Add to watchlist");
  const form = el("form", { class: "wl-form", id: "wl-form", autocomplete: "off" },
    drop, fileInput,
    el("label", { class: "field", for: "wl-label" }, el("span", { text: "Label" }), label),
    el("div", { class: "wl-row" },
      el("label", { class: "field", for: "wl-case" }, el("span", { text: "Case id" }), caseInput),
      el("label", { class: "field", for: "wl-watchlist" }, el("span", { text: "Watchlist" }),
        watchlistInput, watchlistIds)),
    el("label", { class: "field", for: "wl-reason" }, el("span", { text: "Reason" }), reason),
    el("div", { class: "wl-row" },
      el("label", { class: "field wl-days", for: "wl-days" },
        el("span", { text: "Expires after (days)" }), days),
      expiry),
    error,
    el("div", { class: "wl-actions" }, submit,
      el("span", { class: "hint", text: "The entry and its photo are deleted at expiry." })));

  function showExpiry() {
    const n = Number(days.value);
    if (!Number.isInteger(n) || n < 1 || n > maxDays) {
      expiry.textContent = `1 to ${maxDays} days`;
      return;
    }
    expiry.textContent = "expires " + new Date(Date.now() + n * 86_400_000).toLocaleDateString();
  }

  function showError(text) {
    error.hidden = !text;
    error.textContent = text || "";
    if (text) error.scrollIntoView({ block: "nearest" });
  }

  function choose(file) {
    showError(null);
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    chosen = null;
    if (!file) {
      preview.replaceChildren(...emptyPreview());
      return;
    }
    if (!["image/jpeg", "image/png"].includes(file.type)) {
      showError(`${file.name}: choose a JPEG or PNG photo.`);
      return;
    }
    if (file.size > MAX_PHOTO_BYTES) {
      showError(`${file.name}: ${(file.size / 1048576).toFixed(1)} MB; at most 2 MB.`);
      return;
    }
    chosen = file;
    previewUrl = URL.createObjectURL(file); // the reader's own file: nothing leaves the page
    preview.replaceChildren(el("img", { src: previewUrl, alt: "photo to enrol" }),
      el("span", { class: "wl-file", text: file.name }));
  }

  fileInput.addEventListener("change", () => choose(fileInput.files[0] || null));
  for (const kind of ["dragenter", "dragover"]) {
    drop.addEventListener(kind, (event) => {
      event.preventDefault();
      drop.classList.add("dragging");
    });
  }
  for (const kind of ["dragleave", "drop"]) {
    drop.addEventListener(kind, () => drop.classList.remove("dragging"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) choose(file);
  });
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      fileInput.click();
    }
  });
  days.addEventListener("input", showExpiry);
  const stopCase = onCaseChange((value) => {
    if (value && !caseInput.value) caseInput.value = value.case;
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(null);
    if (!chosen) {
      showError("Choose a photo of the person first.");
      return;
    }
    if (!form.reportValidity()) return;
    const data = new FormData();
    data.append("photo", chosen, chosen.name);
    data.append("label", label.value.trim());
    data.append("case_id", caseInput.value.trim());
    data.append("reason", reason.value.trim());
    data.append("days", String(Number(days.value)));
    data.append("watchlist_id", watchlistInput.value.trim());
    submit.disabled = true;
    submit.textContent = "Enrolling…";
    try {
      const resp = await request("/api/watchlist", { method: "POST", form: data });
      const out = await resp.json();
      toast(`Added ${out.label} to ${out.watchlist_id} (entry ${out.entry_id}).`, "ok");
      label.value = "";
      reason.value = "";
      fileInput.value = "";
      choose(null);
      await load();
    } catch (err) {
      showError(err.message);
    } finally {
      submit.disabled = false;
      submit.textContent = "Add to watchlist";
    }
  });

  async function remove(entry) {
    const values = await dialog({
      title: `Remove ${entry.label}`,
      text: `Entry ${entry.watchlist_id}/${entry.entry_id} (case ${entry.case_id}) and its enrolled `
        + "photo are deleted at once; the hub stops matching this face. Say why (kept in the "
        + "audit log, without the name).",
      fields: [{ name: "reason", label: "Reason", type: "textarea", required: true, minlength: 5,
        maxlength: 500, placeholder: "e.g. found safe and well" }],
      submit: "Remove entry",
      danger: true,
    });
    if (!values) return;
    try {
      await request(`/api/watchlist/${encodeURIComponent(entry.watchlist_id)}/`
        + encodeURIComponent(entry.entry_id), { method: "DELETE", query: { reason: values.reason.trim() } });
      toast(`Removed ${entry.label}.`, "ok");
    } catch (err) {
      toast("Not removed: " + err.message, "error");
    }
    await load();
  }

  function table() {
    if (!entries.length) {
      return emptyBox("The watchlist is empty: no face is matched anywhere.");
    }
    return el("table", { class: "data", id: "watchlist-table" },
      el("thead", {}, el("tr", {}, ["Label", "Watchlist / entry", "Case", "Reason", "Added by",
        "Expires", "Left", ""].map((h) => el("th", { text: h })))),
      el("tbody", {}, entries.map((e) => el("tr", {
        class: e.expiring_soon ? "expiring" : null,
        dataset: { entryId: e.entry_id, watchlistId: e.watchlist_id } },
      el("td", { class: "label" }, el("strong", { text: e.label }),
        e.has_photo ? null : el("span", { class: "hint wl-nophoto", text: " (no photo kept)" })),
      el("td", { class: "ids" }, el("code", { text: e.watchlist_id }), " / ",
        el("code", { text: e.entry_id })),
      el("td", { class: "case", text: e.case_id }),
      el("td", { class: "reason", text: e.reason }),
      el("td", { class: "added" }, el("span", { text: e.added_by }), el("br"), timeEl(e.added_at)),
      el("td", { class: "expires" }, timeEl(e.expires_at)),
      el("td", { class: "left" }, daysLeft(e)),
      el("td", { class: "actions" }, el("button", { type: "button",
        class: "button button-quiet wl-remove", onclick: () => remove(e) }, "Remove…"))))));
  }

  async function load() {
    try {
      const data = await getJson("/api/watchlist");
      entries = data.entries;
      maxDays = data.max_days;
      days.max = String(maxDays);
      showExpiry();
      const ids = [...new Set(["missing", ...entries.map((e) => e.watchlist_id)])];
      watchlistIds.replaceChildren(...ids.map((id) => el("option", { value: id })));
      count.textContent = entries.length === 1 ? "1 entry" : `${entries.length} entries`;
      tableBox.replaceChildren(table());
    } catch (err) {
      tableBox.replaceChildren(errorBox(err.message, load));
    }
  }

  root.replaceChildren(
    el("div", { class: "page-head" },
      el("div", {},
        el("h1", { text: "Watchlist" }),
        el("p", { class: "hint", text: "The only faces the hub can recognise. Every entry has "
          + "a case, a reason and an expiry of at most a year; it is deleted when it expires." }))),
    el("div", { class: "watchlist-layout" },
      el("section", { class: "panel wl-list", "aria-labelledby": "wl-list-title" },
        el("div", { class: "panel-head" }, el("h2", { id: "wl-list-title", text: "Entries" }), count),
        tableBox),
      el("aside", { class: "watchlist-side" },
        el("section", { class: "panel wl-add", "aria-labelledby": "wl-add-title" },
          el("div", { class: "panel-head" }, el("h2", { id: "wl-add-title", text: "Add a person" })),
          form),
        faceCamerasPanel().node)));
  showExpiry();
  await load();
  return () => {
    stopCase();
    if (previewUrl) URL.revokeObjectURL(previewUrl);
  };
}
