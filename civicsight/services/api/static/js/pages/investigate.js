// The investigation workspace: search tracks by plate, by an example image, or by time,
// camera and class; results as a grid of best crops; a card opens the track page.
//
// The last search lives in the address (#/investigate?kind=plates&pattern=...), so back
// and forward repeat it; every search (and every crop shown) carries the case bar's case
// and purpose, and the API writes each to the audit log. Until a case is stated the page
// shows the case prompt and calls no search at all. An uploaded image cannot live in the
// address: it is kept in memory for this tab, and asked for again when it is gone.

import { getJson, objectUrl, request } from "../api.js";
import { casePrompt, caseParams, onCaseChange } from "../casebar.js";
import { el, emptyBox, errorBox, fromLocalInput, loading, timeEl, toLocalInput, toast,
  useStyle } from "../dom.js";

const KINDS = [
  ["plates", "Plate"],
  ["image", "Image"],
  ["tracks", "Time, camera, class"],
];
const CLASSES = ["person", "car", "bus", "truck", "motorcycle", "bicycle"];
const IMAGE_CLASSES = ["person", "car", "bus", "truck", "motorcycle"];
const PAGE = 24;
const MAX_UPLOAD = 2 * 1024 * 1024;
const RECENT_KEY = "civicsight.recent-tracks";
const LAST_SEARCH_KEY = "civicsight.last-search";

let image = null; // {file, url}: the example image of the last image search, this tab only

/** Tracks of the latest results, for the track page's merge dialog (this tab only). */
export function recentTracks() {
  try {
    return JSON.parse(window.sessionStorage.getItem(RECENT_KEY) || "[]");
  } catch (_err) {
    return [];
  }
}

function remember(items) {
  const seen = new Map();
  for (const item of items) if (item.id && !seen.has(item.id)) seen.set(item.id, item);
  try {
    window.sessionStorage.setItem(RECENT_KEY, JSON.stringify([...seen.values()].slice(0, 50)));
  } catch (_err) {
    // storage off: the merge dialog then asks for an id
  }
}

/** The address of the last search (the track page links back to it). */
export function lastSearch() {
  try {
    return window.sessionStorage.getItem(LAST_SEARCH_KEY);
  } catch (_err) {
    return null;
  }
}

function cameraName(cameras, id) {
  const cam = cameras.find((c) => c.id === id);
  return cam ? cam.name : id;
}

function cameraSelect(cameras, value, id) {
  return el("select", { id, name: "camera" },
    el("option", { value: "", text: "Any camera" }),
    cameras.map((c) => el("option", { value: c.id, text: c.name, selected: c.id === value })));
}

function timeFields(query, prefix) {
  const since = query.get("since");
  const until = query.get("until");
  return [
    el("label", { class: "field", for: prefix + "-since" }, el("span", { text: "From" }),
      el("input", { id: prefix + "-since", name: "since", type: "datetime-local",
        value: since ? toLocalInput(Number(since)) : "" })),
    el("label", { class: "field", for: prefix + "-until" }, el("span", { text: "Until" }),
      el("input", { id: prefix + "-until", name: "until", type: "datetime-local",
        value: until ? toLocalInput(Number(until)) : "" })),
  ];
}

function timeQuery(form) {
  const out = {};
  const since = fromLocalInput(form.elements.since.value);
  const until = fromLocalInput(form.elements.until.value);
  if (since !== null) out.since = String(Math.floor(since));
  if (until !== null) out.until = String(Math.ceil(until + 59)); // the whole minute
  return out;
}

// ---- the three forms -----------------------------------------------------------------

function plateForm(query, cameras, go) {
  const mode = query.get("mode") || "exact";
  const pattern = el("input", { id: "plate-pattern", name: "pattern", class: "mono plate-input",
    required: true, maxlength: 40, autocomplete: "off", spellcheck: "false",
    placeholder: mode === "pattern" ? "AB?12*" : "AB123CD", value: query.get("pattern") || "" });
  const modes = el("select", { id: "plate-mode", name: "mode" },
    [["exact", "Exact"], ["pattern", "Pattern (* ?)"], ["fuzzy", "Fuzzy (OCR misreads)"]].map(
      ([v, label]) => el("option", { value: v, text: label, selected: v === mode })));
  const distance = el("input", { id: "plate-fuzzy", name: "fuzzy", type: "number", min: 0.25,
    max: 2, step: 0.25, value: query.get("fuzzy") || "1" });
  const distanceField = el("label", { class: "field", for: "plate-fuzzy" },
    el("span", { text: "Distance" }), distance);
  const showDistance = () => { distanceField.hidden = modes.value !== "fuzzy"; };
  modes.addEventListener("change", () => {
    showDistance();
    pattern.placeholder = modes.value === "pattern" ? "AB?12*" : "AB123CD";
  });
  showDistance();
  const form = el("form", { id: "plate-form", class: "search-form", autocomplete: "off" },
    el("div", { class: "form-row" },
      el("label", { class: "field", for: "plate-pattern" }, el("span", { text: "Plate" }), pattern),
      el("label", { class: "field", for: "plate-mode" }, el("span", { text: "Match" }), modes),
      distanceField,
      el("label", { class: "field", for: "plate-camera" }, el("span", { text: "Camera" }),
        cameraSelect(cameras, query.get("camera"), "plate-camera")),
      ...timeFields(query, "plate"),
      el("button", { type: "submit", class: "button", id: "plate-submit" }, "Search plates")),
    el("p", { class: "hint form-hint", text: "Exact: the plate as written. Pattern: ? is one "
      + "character, * any run (AB?12*). Fuzzy: also finds reads with usual OCR confusions "
      + "(0/O, 8/B, 1/I: 0.25 each) and other single-character errors (1 each)." }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = pattern.value.trim().toUpperCase().replace(/[\s-]+/g, "");
    const wild = /[*?]/.test(text);
    if (modes.value === "exact" && wild) {
      toast("Choose Pattern to search with * or ?.", "error");
      return;
    }
    if (modes.value === "fuzzy" && wild) {
      toast("A fuzzy search takes a whole plate, without * or ?.", "error");
      return;
    }
    const q = { kind: "plates", pattern: text, mode: modes.value, ...timeQuery(form) };
    if (modes.value === "fuzzy") q.fuzzy = distance.value;
    if (form.elements.camera.value) q.camera = form.elements.camera.value;
    go(q);
  });
  return form;
}

function imageForm(query, cameras, go) {
  const input = el("input", { id: "image-file", type: "file", accept: "image/jpeg,image/png",
    class: "visually-hidden" });
  const preview = el("img", { class: "drop-preview", alt: "the example image", hidden: !image,
    src: image ? image.url : null });
  const note = el("span", { class: "drop-note",
    text: image ? image.file.name : "Drop a crop or a photo here, or click to choose one "
      + "(JPEG or PNG, at most 2 MiB)." });
  const zone = el("label", { class: "drop-zone" + (image ? " has-image" : ""), for: "image-file",
    id: "image-drop", tabindex: 0 }, preview, note, input);
  function take(file) {
    if (!file) return;
    if (!["image/jpeg", "image/png"].includes(file.type)) {
      toast(file.name + " is not a JPEG or PNG image.", "error");
      return;
    }
    if (file.size > MAX_UPLOAD) {
      toast(file.name + " is larger than 2 MiB: crop it first.", "error");
      return;
    }
    if (image) URL.revokeObjectURL(image.url);
    image = { file, url: URL.createObjectURL(file) };
    preview.src = image.url;
    preview.hidden = false;
    note.textContent = file.name;
    zone.classList.add("has-image");
  }
  input.addEventListener("change", () => take(input.files[0]));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    take(event.dataTransfer.files[0]);
  });
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      input.click();
    }
  });
  const cls = query.get("cls") || "person";
  const form = el("form", { id: "image-form", class: "search-form image-search" },
    zone,
    el("div", { class: "image-fields" }, el("div", { class: "form-row" },
      el("label", { class: "field", for: "image-cls" }, el("span", { text: "It shows a" }),
        el("select", { id: "image-cls", name: "cls" }, IMAGE_CLASSES.map((c) =>
          el("option", { value: c, text: c, selected: c === cls })))),
      el("label", { class: "field", for: "image-k" }, el("span", { text: "Tracks" }),
        el("input", { id: "image-k", name: "k", type: "number", min: 1, max: 100,
          value: query.get("k") || "20" })),
      el("label", { class: "field", for: "image-camera" }, el("span", { text: "Camera" }),
        cameraSelect(cameras, query.get("camera"), "image-camera")),
      ...timeFields(query, "image"),
      el("button", { type: "submit", class: "button", id: "image-submit" }, "Search by image")),
    el("p", { class: "hint form-hint", text: "The image goes through the hub's own re-ID "
      + "models and is not kept; the audit log records its SHA-256. A person search is "
      + "logged as a biometric search." })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!image) {
      toast("Choose or drop an image first.", "error");
      return;
    }
    const q = { kind: "image", cls: form.elements.cls.value, k: form.elements.k.value,
      image: image.file.name, ...timeQuery(form) };
    if (form.elements.camera.value) q.camera = form.elements.camera.value;
    go(q);
  });
  return form;
}

function tracksForm(query, cameras, go) {
  const cls = query.get("cls") || "";
  const form = el("form", { id: "tracks-form", class: "search-form" },
    el("div", { class: "form-row" },
      el("label", { class: "field", for: "tracks-cls" }, el("span", { text: "Class" }),
        el("select", { id: "tracks-cls", name: "cls" },
          el("option", { value: "", text: "Any class" }),
          CLASSES.map((c) => el("option", { value: c, text: c, selected: c === cls })))),
      el("label", { class: "field", for: "tracks-camera" }, el("span", { text: "Camera" }),
        cameraSelect(cameras, query.get("camera"), "tracks-camera")),
      ...timeFields(query, "tracks"),
      el("button", { type: "submit", class: "button", id: "tracks-submit" }, "Search tracks")),
    el("p", { class: "hint form-hint", text: "Newest first. Without From, a search covers the "
      + "31 days before Until (or now)." }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = { kind: "tracks", ...timeQuery(form) };
    if (form.elements.cls.value) q.cls = form.elements.cls.value;
    if (form.elements.camera.value) q.camera = form.elements.camera.value;
    go(q);
  });
  return form;
}

// ---- searches --------------------------------------------------------------------------

/** Results per page: the address may ask for fewer or more (1 to 100). */
function pageSize(query) {
  const n = Number.parseInt(query.get("limit") || "", 10);
  return Number.isFinite(n) ? Math.min(100, Math.max(1, n)) : PAGE;
}

function pick(query, names) {
  const out = {};
  for (const name of names) if (query.get(name)) out[name] = query.get(name);
  return out;
}

async function runSearch(query) {
  const why = caseParams();
  const kind = query.get("kind");
  if (kind === "plates") {
    const q = { ...why, ...pick(query, ["pattern", "since", "until", "camera", "cursor"]),
      limit: pageSize(query) };
    if (query.get("mode") === "fuzzy") q.fuzzy = query.get("fuzzy") || "1";
    const page = await getJson("/api/search/plates", q);
    return { next: page.next, items: page.items.map((h) => ({ kind, id: h.track_id, hit: h })) };
  }
  if (kind === "tracks") {
    const q = { ...why, ...pick(query, ["cls", "camera", "since", "until", "cursor"]),
      limit: pageSize(query) };
    const page = await getJson("/api/tracks", q);
    return { next: page.next, items: page.items.map((t) => ({ kind, id: t.track_id, hit: t })) };
  }
  if (kind === "image") {
    if (!image) return { needImage: true, items: [] };
    const form = new FormData();
    form.append("image", image.file, image.file.name);
    for (const [key, value] of Object.entries({ ...why,
      ...pick(query, ["cls", "k", "since", "until"]) })) form.append(key, value);
    if (query.get("camera")) form.append("camera", query.get("camera"));
    const resp = await request("/api/search/image", { method: "POST", form });
    const body = await resp.json();
    return { next: null, model: body.model,
      items: body.items.map((h) => ({ kind, id: h.track_id, hit: h })) };
  }
  return null;
}

function describe(query) {
  const kind = query.get("kind");
  if (kind === "plates") {
    const mode = query.get("mode") || "exact";
    return "Plate " + (query.get("pattern") || "") + " (" + mode
      + (mode === "fuzzy" ? " ≤ " + (query.get("fuzzy") || "1") : "") + ")";
  }
  if (kind === "image") return "Image " + (query.get("image") || "") + " as " + query.get("cls");
  if (kind === "tracks") return "Tracks" + (query.get("cls") ? " of class " + query.get("cls") : "");
  return "";
}

// ---- results ---------------------------------------------------------------------------

function card(item, cameras, ctx, crops) {
  const h = item.hit;
  const thumb = el("div", { class: "card-thumb" }, el("span", { class: "thumb-empty",
    text: item.id ? "Loading…" : "No track yet" }));
  const facts = [];
  let cls = h.cls;
  if (item.kind === "plates") {
    facts.push(el("div", { class: "card-plate" },
      el("span", { class: "plate", text: h.text }),
      el("span", { class: "card-sub", text: Math.round(h.conf * 100) + " % read"
        + (h.distance ? " · distance " + h.distance : "") })));
    facts.push(el("div", { class: "card-line" }, el("span", { text: cameraName(cameras, h.camera_id) }),
      timeEl(h.seen_at)));
  } else if (item.kind === "image") {
    facts.push(el("div", { class: "card-line" },
      el("span", { class: "score", text: "score " + h.score.toFixed(3) }),
      el("span", { text: cameraName(cameras, h.camera_id) })));
    facts.push(el("div", { class: "card-line" }, el("span", { class: "card-sub", text: "seen" }),
      timeEl(h.seen_at)));
  } else {
    facts.push(el("div", { class: "card-line" },
      el("span", { text: h.cameras.map((c) => cameraName(cameras, c)).join(" → ") })));
    facts.push(el("div", { class: "card-line card-times" }, timeEl(h.first_seen),
      el("span", { class: "card-sub", text: "→" }), timeEl(h.last_seen)));
    if (!h.closed) facts.push(el("span", { class: "pill pill-ok", text: "open" }));
  }
  const body = el("div", { class: "card-body" },
    el("div", { class: "card-head" },
      cls ? el("span", { class: "cls cls-" + cls, text: cls }) : null,
      el("code", { class: "card-id", text: item.id || h.tracklet })),
    ...facts);
  const node = item.id
    ? el("a", { class: "result-card", href: ctx.href("track", item.id),
      dataset: { trackId: item.id } }, thumb, body)
    : el("div", { class: "result-card pending", title: "This read is not in a track yet" },
      thumb, body);
  if (item.id) crops.load(item.id, thumb);
  return node;
}

/** Best crops of the result cards: one request per track, revoked on leaving. */
function cropLoader(ctx) {
  const urls = new Map();
  const waiting = new Map();
  return {
    load(id, thumb) {
      if (!waiting.has(id)) {
        waiting.set(id, objectUrl("/api/tracks/" + encodeURIComponent(id) + "/crop.jpg",
          caseParams()).then((url) => {
          urls.set(id, url);
          return url;
        }).catch(() => null));
      }
      waiting.get(id).then((url) => {
        if (!ctx.alive()) return;
        thumb.replaceChildren(url ? el("img", { src: url, alt: "best crop of " + id, loading: "lazy" })
          : el("span", { class: "thumb-empty", text: "No crop" }));
      });
    },
    revoke() {
      for (const url of urls.values()) if (url) URL.revokeObjectURL(url);
    },
  };
}

function resultsView(found, query, cameras, ctx, crops) {
  const head = el("div", { class: "panel-head" },
    el("h2", { text: "Results" }),
    el("span", { class: "count", id: "result-count", text: found.items.length
      + (found.next ? "+" : "") + (found.items.length === 1 ? " hit" : " hits")
      + (found.model ? " · model " + found.model : "") }));
  if (!found.items.length) {
    return [head, emptyBox(query.get("cursor") ? "No more results."
      : "Nothing found. Widen the time window, or try a pattern or a fuzzy plate search.")];
  }
  const grid = el("div", { class: "result-grid", id: "results" },
    found.items.map((item) => card(item, cameras, ctx, crops)));
  const pager = el("div", { class: "pager" },
    query.get("cursor") ? el("a", { class: "button button-quiet", id: "first-page",
      href: ctx.href("investigate", null, withoutCursor(query)) }, "First page") : null,
    found.next ? el("a", { class: "button button-quiet", id: "next-page",
      href: ctx.href("investigate", null, { ...Object.fromEntries(query), cursor: found.next }) },
    "Next page →") : null);
  return [head, grid, pager];
}

function withoutCursor(query) {
  const q = Object.fromEntries(query);
  delete q.cursor;
  return q;
}

// ---- the page --------------------------------------------------------------------------

export async function render(root, ctx) {
  useStyle("investigate");
  const cameras = await getJson("/api/cameras").catch(() => []);
  if (!ctx.alive()) return undefined;
  const query = ctx.query;
  const kind = KINDS.some(([k]) => k === query.get("kind")) ? query.get("kind") : "plates";
  const go = (q) => ctx.navigate("investigate", null, q);
  const forms = { plates: plateForm(query, cameras, go), image: imageForm(query, cameras, go),
    tracks: tracksForm(query, cameras, go) };
  const tabs = el("div", { class: "tabs", role: "tablist" });
  const panes = el("div", { class: "tab-panes" });
  function show(name) {
    for (const button of tabs.children) {
      const on = button.dataset.kind === name;
      button.classList.toggle("active", on);
      button.setAttribute("aria-selected", on ? "true" : "false");
    }
    for (const [k, form] of Object.entries(forms)) form.hidden = k !== name;
  }
  for (const [k, label] of KINDS) {
    tabs.append(el("button", { type: "button", class: "tab", role: "tab", id: "tab-" + k,
      dataset: { kind: k }, onclick: () => show(k) }, label));
    panes.append(forms[k]);
  }
  show(kind);
  const results = el("section", { class: "panel results-panel", id: "results-panel",
    "aria-live": "polite" });
  root.replaceChildren(
    el("div", { class: "page-head" }, el("h1", { text: "Investigation" }),
      el("span", { class: "hint", text: "Search tracks across cameras. Every search, crop and "
        + "export is logged with your case and purpose." })),
    el("section", { class: "panel search-panel" }, tabs, panes),
    results);
  const crops = cropLoader(ctx);

  async function search() {
    if (!query.get("kind")) {
      results.replaceChildren(el("div", { class: "panel-head" }, el("h2", { text: "Results" })),
        emptyBox("Search by plate, by an example image, or by time, camera and class."));
      return;
    }
    if (!caseParams()) {
      results.replaceChildren(el("div", { class: "panel-head" }, el("h2", { text: "Results" })),
        casePrompt());
      return;
    }
    results.replaceChildren(el("div", { class: "panel-head" }, el("h2", { text: "Results" }),
      el("span", { class: "count", text: describe(query) })), loading("Searching…"));
    try {
      const found = await runSearch(query);
      if (!ctx.alive()) return;
      if (found.needImage) {
        results.replaceChildren(el("div", { class: "panel-head" }, el("h2", { text: "Results" })),
          emptyBox("The image of this search is no longer in this tab: choose it again "
            + "to repeat the search."));
        return;
      }
      remember(found.items.filter((i) => i.id).map((i) => ({ id: i.id,
        label: i.hit.text || i.hit.cls || "" })));
      try {
        window.sessionStorage.setItem(LAST_SEARCH_KEY, window.location.hash);
      } catch (_err) { /* the track page then links to a fresh search */ }
      results.replaceChildren(...resultsView(found, query, cameras, ctx, crops));
      const summary = results.querySelector(".count");
      if (summary) summary.textContent = describe(query) + " · " + summary.textContent;
    } catch (err) {
      if (!ctx.alive()) return;
      results.replaceChildren(el("div", { class: "panel-head" }, el("h2", { text: "Results" })),
        errorBox(err.message, () => search()));
    }
  }
  const stopCase = onCaseChange(() => search());
  await search();
  return () => {
    stopCase();
    crops.revoke();
  };
}
