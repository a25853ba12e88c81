// Rules (administrators): counting lines (with a direction) and zones, drawn on a still
// frame of a camera and saved to its camera file (PUT /api/cameras/{id}/rules, audited).
// Points are fractions of the frame (0..1), so rules hold at any frame size. The stream
// app evaluates them on the bottom-centre of each box; their hits show below, live.

import { getJson, objectUrl, putJson } from "../api.js";
import { el, emptyBox, errorBox, formatTime, svg, toast, useStyle } from "../dom.js";

const SLUG = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const HIT_POLL_MS = 2000;

function slugify(text, taken) {
  let base = text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40)
    || "rule";
  if (!/^[a-z0-9]/.test(base)) base = "r" + base;
  let id = base;
  for (let n = 2; taken.has(id); n++) id = base + "-" + n;
  return id;
}

function clamp01(v) {
  return Math.min(1, Math.max(0, v));
}

/** The rectangle the image really occupies inside its box (object-fit: contain). */
function imageRect(img) {
  const box = img.getBoundingClientRect();
  const nw = img.naturalWidth || 16;
  const nh = img.naturalHeight || 9;
  const scale = Math.min(box.width / nw, box.height / nh);
  const w = nw * scale;
  const h = nh * scale;
  return { left: box.left + (box.width - w) / 2, top: box.top + (box.height - h) / 2, w, h };
}

export async function render(root, ctx) {
  useStyle("rules");
  const cameras = await getJson("/api/cameras");
  if (!cameras.length) {
    root.replaceChildren(el("h1", { text: "Rules" }), emptyBox("No cameras configured."));
    return undefined;
  }
  const cameraId = cameras.some((c) => c.id === ctx.param) ? ctx.param : cameras[0].id;
  const camera = cameras.find((c) => c.id === cameraId);

  const picker = el("nav", { class: "rules-cameras", "aria-label": "Cameras" },
    cameras.map((c) => el("a", { href: ctx.href("rules", c.id),
      class: "rules-camera" + (c.id === cameraId ? " active" : ""), dataset: { cameraId: c.id } },
    el("span", { text: c.name }), el("code", { text: c.id }))));

  const img = el("img", { class: "rules-frame", alt: "Still frame of " + camera.name });
  const overlay = svg("svg", { class: "rules-overlay", viewBox: "0 0 1000 1000",
    preserveAspectRatio: "none" });
  const stage = el("div", { class: "rules-stage", id: "rules-stage" }, img, overlay);
  const hint = el("p", { class: "hint", id: "rules-hint" });
  const list = el("div", { class: "rules-list", id: "rules-list" });
  const error = el("div", { id: "rules-error" });
  const saveButton = el("button", { type: "button", class: "button", id: "rules-save" },
    "Save rules");
  const discardButton = el("button", { type: "button", class: "button button-quiet",
    id: "rules-discard" }, "Discard changes");
  const lineButton = el("button", { type: "button", class: "button button-quiet",
    id: "add-line" }, "Draw a counting line");
  const zoneButton = el("button", { type: "button", class: "button button-quiet",
    id: "add-zone" }, "Draw a zone");
  const finishButton = el("button", { type: "button", class: "button", id: "finish-shape",
    hidden: true }, "Finish");
  const cancelButton = el("button", { type: "button", class: "button button-quiet",
    id: "cancel-shape", hidden: true }, "Cancel");
  const hits = el("ol", { class: "rules-hits", id: "rules-hits" });
  const hitsEmpty = emptyBox("No hits yet on this camera since the page opened.");
  const refresh = el("button", { type: "button", class: "button button-quiet" }, "New frame");

  root.replaceChildren(
    el("div", { class: "page-head" }, el("h1", { text: "Rules" }),
      el("p", { class: "hint", text: "Counting lines and zones, drawn on a still frame. "
        + "Tracks count where the bottom-centre of their box goes." })),
    el("div", { class: "rules-layout" },
      el("aside", { class: "panel" }, el("div", { class: "panel-head" },
        el("h2", { text: "Cameras" })), picker),
      el("section", { class: "panel rules-main" },
        el("div", { class: "panel-head" }, el("h2", { text: camera.name }), refresh),
        el("div", { class: "rules-tools" }, lineButton, zoneButton, finishButton, cancelButton),
        hint, stage, error,
        el("div", { class: "rules-actions" }, saveButton, discardButton)),
      el("aside", { class: "rules-side" },
        el("section", { class: "panel" }, el("div", { class: "panel-head" },
          el("h2", { text: "Lines and zones" })), list),
        el("section", { class: "panel" }, el("div", { class: "panel-head" },
          el("h2", { text: "Live hits" })), hitsEmpty, hits))));

  let saved = await getJson(`/api/cameras/${encodeURIComponent(cameraId)}/rules`);
  let rules = structuredClone(saved);
  let drawing = null; // {kind, points}
  let selected = null;
  let frameUrl = null;

  async function loadFrame() {
    const url = await objectUrl(`/api/cameras/${encodeURIComponent(cameraId)}/latest.jpg`);
    if (!ctx.alive()) {
      if (url) URL.revokeObjectURL(url);
      return;
    }
    if (!url) {
      stage.classList.add("no-frame");
      stage.dataset.empty = "No frame from this camera yet: draw on the blank frame, "
        + "or wait for the camera and press New frame.";
      return;
    }
    stage.classList.remove("no-frame");
    if (frameUrl) URL.revokeObjectURL(frameUrl);
    frameUrl = url;
    img.src = url;
  }
  refresh.addEventListener("click", () => loadFrame().catch((e) => toast(e.message, "error")));
  await loadFrame();

  const dirty = () => JSON.stringify(rules) !== JSON.stringify(saved);
  const ids = () => new Set([...rules.lines.map((l) => l.id), ...rules.zones.map((z) => z.id)]);
  const P = ([x, y]) => `${x * 1000},${y * 1000}`;

  function arrow(line) {
    // the normal at the middle of the first segment, pointing to the right-hand side
    const [[x1, y1], [x2, y2]] = line.points;
    const mx = (x1 + x2) / 2;
    const my = (y1 + y2) / 2;
    const len = Math.hypot(x2 - x1, y2 - y1) || 1;
    const nx = -(y2 - y1) / len;
    const ny = (x2 - x1) / len;
    const d = 0.06;
    return svg("g", { class: "rule-arrow" },
      svg("line", { x1: mx * 1000, y1: my * 1000, x2: (mx + nx * d) * 1000, y2: (my + ny * d) * 1000 }),
      svg("text", { x: (mx + nx * d * 1.4) * 1000, y: (my + ny * d * 1.4) * 1000,
        "text-anchor": "middle", text: line.to_right }),
      svg("text", { x: (mx - nx * d * 1.2) * 1000, y: (my - ny * d * 1.2) * 1000,
        "text-anchor": "middle", class: "rule-arrow-back", text: line.to_left }));
  }

  function draw() {
    overlay.replaceChildren();
    for (const zone of rules.zones) {
      overlay.append(svg("g", { class: "rule rule-zone" + (selected === zone.id ? " selected" : ""),
        "data-rule-id": zone.id },
      svg("polygon", { points: zone.polygon.map(P).join(" ") }),
      svg("text", { x: zone.polygon[0][0] * 1000 + 8, y: zone.polygon[0][1] * 1000 + 28,
        text: zone.name })));
    }
    for (const line of rules.lines) {
      overlay.append(svg("g", { class: "rule rule-line" + (selected === line.id ? " selected" : ""),
        "data-rule-id": line.id },
      svg("polyline", { points: line.points.map(P).join(" ") }),
      svg("text", { x: line.points[0][0] * 1000 + 6, y: line.points[0][1] * 1000 - 10,
        text: line.name }),
      arrow(line)));
    }
    if (drawing && drawing.points.length) {
      const pts = drawing.points.map(P).join(" ");
      overlay.append(svg("g", { class: "rule rule-drawing" },
        drawing.kind === "zone" ? svg("polygon", { points: pts }) : svg("polyline", { points: pts }),
        ...drawing.points.map(([x, y]) => svg("circle", { cx: x * 1000, cy: y * 1000, r: 7 }))));
    }
    renderList();
    saveButton.disabled = !dirty();
    discardButton.disabled = !dirty();
    hint.textContent = drawing
      ? (drawing.kind === "line"
        ? "Click the points of the line (at least 2), then Finish. Crossings towards the "
          + "right-hand side of the direction you draw are “in”."
        : "Click the corners of the zone (at least 3), then Finish.")
      : dirty() ? "Unsaved changes." : "Saved rules of this camera.";
  }

  function field(label, value, onChange, attrs = {}) {
    const input = el("input", { type: "text", value, ...attrs });
    input.addEventListener("change", () => onChange(input.value.trim()));
    return el("label", { class: "field" }, el("span", { text: label }), input);
  }

  function renderList() {
    const items = [];
    for (const line of rules.lines) {
      items.push(el("div", { class: "rule-item" + (selected === line.id ? " selected" : ""),
        dataset: { ruleId: line.id } },
      el("div", { class: "rule-item-head" }, el("span", { class: "pill pill-ok", text: "line" }),
        el("code", { text: line.id }),
        el("button", { type: "button", class: "button button-quiet rule-delete",
          onclick: () => remove("lines", line.id) }, "Delete")),
      field("Name", line.name, (v) => update("lines", line.id, { name: v || line.name })),
      el("div", { class: "form-row" },
        field("Crossing to the right", line.to_right, (v) => update("lines", line.id,
          { to_right: v || line.to_right }), { maxlength: 32, class: "mono" }),
        field("to the left", line.to_left, (v) => update("lines", line.id,
          { to_left: v || line.to_left }), { maxlength: 32, class: "mono" })),
      el("button", { type: "button", class: "button button-quiet",
        onclick: () => update("lines", line.id, { points: [...line.points].reverse(),
          to_right: line.to_left, to_left: line.to_right }) }, "Reverse direction")));
    }
    for (const zone of rules.zones) {
      items.push(el("div", { class: "rule-item" + (selected === zone.id ? " selected" : ""),
        dataset: { ruleId: zone.id } },
      el("div", { class: "rule-item-head" }, el("span", { class: "pill pill-warn", text: "zone" }),
        el("code", { text: zone.id }),
        el("button", { type: "button", class: "button button-quiet rule-delete",
          onclick: () => remove("zones", zone.id) }, "Delete")),
      field("Name", zone.name, (v) => update("zones", zone.id, { name: v || zone.name }))));
    }
    list.replaceChildren(...(items.length ? items
      : [emptyBox("No lines or zones yet: draw one on the frame.")]));
  }

  function update(kind, id, change) {
    rules = { ...rules, [kind]: rules[kind].map((r) => (r.id === id ? { ...r, ...change } : r)) };
    selected = id;
    draw();
  }
  function remove(kind, id) {
    rules = { ...rules, [kind]: rules[kind].filter((r) => r.id !== id) };
    if (selected === id) selected = null;
    draw();
  }

  function start(kind) {
    drawing = { kind, points: [] };
    selected = null;
    stage.classList.add("drawing");
    finishButton.hidden = false;
    cancelButton.hidden = false;
    lineButton.disabled = zoneButton.disabled = true;
    draw();
  }
  function stop() {
    drawing = null;
    stage.classList.remove("drawing");
    finishButton.hidden = true;
    cancelButton.hidden = true;
    lineButton.disabled = zoneButton.disabled = false;
    draw();
  }
  function finish() {
    if (!drawing) return;
    const need = drawing.kind === "line" ? 2 : 3;
    if (drawing.points.length < need) {
      toast(`A ${drawing.kind} needs at least ${need} points.`, "error");
      return;
    }
    const taken = ids();
    if (drawing.kind === "line") {
      const n = rules.lines.length + 1;
      const name = "Line " + n;
      const id = slugify(name, taken);
      rules = { ...rules, lines: [...rules.lines, { id, name, points: drawing.points,
        to_right: "in", to_left: "out" }] };
      selected = id;
    } else {
      const n = rules.zones.length + 1;
      const name = "Zone " + n;
      const id = slugify(name, taken);
      rules = { ...rules, zones: [...rules.zones, { id, name, polygon: drawing.points }] };
      selected = id;
    }
    stop();
  }

  stage.addEventListener("click", (event) => {
    if (!drawing) return;
    const r = img.naturalWidth ? imageRect(img) : stage.getBoundingClientRect();
    const w = r.w || r.width;
    const h = r.h || r.height;
    const x = clamp01((event.clientX - r.left) / w);
    const y = clamp01((event.clientY - r.top) / h);
    drawing.points.push([Math.round(x * 10000) / 10000, Math.round(y * 10000) / 10000]);
    draw();
  });
  lineButton.addEventListener("click", () => start("line"));
  zoneButton.addEventListener("click", () => start("zone"));
  finishButton.addEventListener("click", finish);
  cancelButton.addEventListener("click", stop);
  function onKey(event) {
    if (!drawing) return;
    if (event.key === "Enter") finish();
    if (event.key === "Escape") stop();
  }
  document.addEventListener("keydown", onKey);

  discardButton.addEventListener("click", () => {
    rules = structuredClone(saved);
    selected = null;
    error.replaceChildren();
    draw();
  });
  saveButton.addEventListener("click", async () => {
    error.replaceChildren();
    for (const r of [...rules.lines, ...rules.zones]) {
      if (!SLUG.test(r.id)) r.id = slugify(r.id, new Set());
    }
    try {
      saved = await putJson(`/api/cameras/${encodeURIComponent(cameraId)}/rules`, rules);
      rules = structuredClone(saved);
      toast("Rules saved: the stream app applies them within seconds.", "ok");
      draw();
    } catch (err) {
      error.replaceChildren(errorBox("The rules were not saved: " + err.message));
    }
  });

  // keep the overlay on the image's own box (letterboxed by object-fit: contain)
  function place() {
    if (!img.naturalWidth) return;
    const r = imageRect(img);
    const box = stage.getBoundingClientRect();
    Object.assign(overlay.style, { left: r.left - box.left + "px", top: r.top - box.top + "px",
      width: r.w + "px", height: r.h + "px" });
  }
  img.addEventListener("load", place);
  window.addEventListener("resize", place);

  // live hits of this camera
  let cursor = 0;
  let first = true;
  let timer = null;
  async function poll() {
    try {
      const page = await getJson("/api/events/rule-hits", { after: cursor, camera: cameraId });
      cursor = page.cursor;
      const mine = page.hits.filter((h) => h.camera_id === cameraId);
      if (!first) {
        for (const h of mine) {
          hits.prepend(el("li", { class: "rules-hit", dataset: { ruleId: h.rule_id } },
            el("code", { text: h.rule_id }), " ",
            h.action === "cross" ? `${h.cls} crossed (${h.direction})`
              : `${h.cls} ${h.action === "enter" ? "entered" : "left"}`
                + (h.dwell_s !== null ? ` after ${Math.round(h.dwell_s)} s` : ""),
            el("time", { text: formatTime(h.captured_at) })));
        }
        while (hits.children.length > 50) hits.lastElementChild.remove();
        hitsEmpty.hidden = hits.children.length > 0;
      }
      first = false;
    } catch (err) {
      hitsEmpty.hidden = false;
      hitsEmpty.textContent = "Live hits unavailable: " + err.message;
    }
    if (ctx.alive()) timer = window.setTimeout(poll, HIT_POLL_MS);
  }
  poll();
  draw();

  return () => {
    window.clearTimeout(timer);
    document.removeEventListener("keydown", onKey);
    window.removeEventListener("resize", place);
    if (frameUrl) URL.revokeObjectURL(frameUrl);
  };
}
