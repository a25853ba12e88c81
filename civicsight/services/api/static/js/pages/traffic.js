// Traffic (traffic analysts, administrators): the six published traffic tables of a day
// or a few days (/api/traffic/*), as tables and charts per 15-minute bin: counts by
// movement and class, turning movements, zones, speeds, journey times and
// origin-destination. The API protects every bin before anything is picked out of it; a
// withheld value is shown hatched ("fewer than k", or withheld so that one that is
// cannot be worked out) and a bin whose camera was down as a grey gap, never as a zero.
// Sums over several bins are sums of what is published ("≥" where some is withheld).
// Every value enters the page as text.

import { download, getJson } from "../api.js";
import { el, emptyBox, errorBox, loading, toast, useStyle } from "../dom.js";
import { CLASS_COLOURS, hh, ranges, stackedBars } from "../parts/traffic_charts.js";

const TABLES = ["counts", "turning", "zones", "speeds", "journeys", "od"];
const CLASSES = ["person", "bicycle", "car", "motorcycle", "bus", "truck"];
const ALL = "*";
const BIN_S = 900;
const DAYS = [["1", "1 day"], ["2", "2 days"], ["7", "7 days"]];

const isoOf = (ts) => new Date(ts * 1000).toISOString().replace(".000Z", "Z");
const tsOf = (iso) => Date.parse(iso) / 1000;
const unique = (items) => [...new Set(items)];
const hhmm = hh;
const when = (ts) => new Date(ts * 1000).toLocaleString([], { weekday: "short", day: "numeric",
  month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

function localDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function withheldText(k) {
  return `withheld: fewer than ${k}, or withheld so that one that is cannot be worked out`;
}
const DOWN_TEXT = "camera down: no frames, so unknown (not zero)";

function chooser(id, label, options, value) {
  const sel = el("select", { id }, options.map(([v, text]) =>
    el("option", { value: v, text, selected: v === value })));
  return [el("label", { class: "field" }, el("span", { text: label }), sel), sel];
}

/** What a list of rows of one key sums to: published values added, withheld, down. */
function sumOf(rows, field = "count") {
  let sum = 0;
  let shown = 0;
  let withheld = false;
  let down = 0;
  for (const r of rows) {
    if (r.status === "camera_down") down += 1;
    else if (r[field] === null && r.status === "suppressed") withheld = true;
    else if (r[field] !== null) {
      sum += r[field];
      shown += 1;
    }
  }
  return { sum, shown, withheld, down: rows.length > 0 && down === rows.length };
}

/** A table cell for a value (one row or a sum of rows), hatched when withheld. */
function cell(s, k, digits = null) {
  if (s.down) return el("td", { class: "num down", title: DOWN_TEXT, text: "down" });
  if (s.withheld && !s.shown) {
    return el("td", { class: "num withheld", title: withheldText(k) },
      el("span", { class: "sr", text: "withheld" }));
  }
  const text = digits === null ? String(s.sum) : s.sum.toFixed(digits);
  if (s.withheld) {
    return el("td", { class: "num partial", text: "≥ " + text,
      title: "the published values add up to this; some are withheld" });
  }
  return el("td", { class: "num", text });
}

function valueCell(row, field, k, digits = 0) {
  if (!row) return el("td", { class: "num muted", text: "–" });
  if (row.status === "camera_down") return cell({ down: true }, k);
  const v = row[field];
  if (v === null) {
    return row.status === "suppressed" && ["count", "entries", "exits"].includes(field)
      ? cell({ withheld: true, shown: 0 }, k)
      : el("td", { class: "num muted", text: "–", title: row.status === "suppressed"
        ? withheldText(k) : "nothing measured" });
  }
  return el("td", { class: "num", text: digits ? v.toFixed(digits) : String(v) });
}

function legend(k, classes) {
  return el("div", { class: "legend" },
    classes.map((c) => el("span", { class: "key" },
      el("i", { class: "swatch", dataset: { cls: c } }), c)),
    el("span", { class: "key" }, el("i", { class: "swatch withheld" }), `withheld (< ${k})`),
    el("span", { class: "key" }, el("i", { class: "swatch down" }), "camera down"));
}

function paintSwatches(root) {
  for (const sw of root.querySelectorAll(".swatch[data-cls]")) {
    sw.style.background = CLASS_COLOURS[sw.dataset.cls];
  }
}

function panel(title, name, controls, body, csv) {
  const button = el("button", { type: "button", class: "button button-quiet csv",
    dataset: { table: name } }, "CSV");
  button.addEventListener("click", () => csv(name));
  return el("section", { class: "panel traffic-panel", id: "traffic-" + name },
    el("div", { class: "panel-head" }, el("h2", { text: title }), button),
    controls.length ? el("div", { class: "form-row traffic-controls" }, controls) : null,
    body);
}

function binsOf(body) {
  const out = [];
  for (let t = tsOf(body.since); t < tsOf(body.until); t += BIN_S) out.push(t);
  return out;
}

function scrollTable(id, headers, rows) {
  return el("div", { class: "table-wrap scroll" },
    el("table", { class: "data compact", id },
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { text: h })))),
      el("tbody", {}, rows)));
}

// ---- counts: stacked bars and a table per movement -----------------------------------

function countsPanel(body, camera, csv) {
  const rows = body.rows.filter((r) => !camera || r.camera === camera);
  const moves = unique(rows.filter((r) => r.camera !== ALL)
    .map((r) => [r.camera, r.rule, r.direction].join("|")));
  const options = moves.map((m) => [m, m.split("|").join(" · ")]);
  if (!camera && rows.some((r) => r.camera === ALL)) options.unshift(["*|*|*", "All lines (totals)"]);
  if (!options.length) {
    return panel("Counts by 15 minutes", "counts", [],
      emptyBox("No counting line on this selection."), csv);
  }
  const [field, pick] = chooser("counts-movement", "Movement", options, options[0][0]);
  const view = el("div");
  function show() {
    const [cam, rule, dir] = pick.value.split("|");
    const at = new Map(rows.filter((r) => r.camera === cam && r.rule === rule && r.direction === dir)
      .map((r) => [r.bin_start + "|" + r.class, r]));
    const bins = binsOf(body);
    const row = (b, c) => at.get(isoOf(b) + "|" + c);
    const down = bins.map((b) => row(b, ALL)?.status === "camera_down");
    const seen = CLASSES.filter((c) => bins.some((b) => row(b, c) && row(b, c).count !== 0));
    const classes = seen.length ? seen : ["car"];
    const chart = stackedBars({ bins, down, downText: DOWN_TEXT, withheldText: withheldText(body.k),
      unit: "per 15 min", series: classes.map((c) => ({ name: c, colour: CLASS_COLOURS[c],
        values: bins.map((b) => (row(b, c) ? row(b, c).count : 0)) })) });
    const table = scrollTable("traffic-counts-table", ["Bin", ...classes, "All classes"],
      bins.map((b) => el("tr", {}, el("td", {}, el("time", { text: hhmm(b), title: when(b) })),
        classes.map((c) => valueCell(row(b, c), "count", body.k)),
        valueCell(row(b, ALL), "count", body.k))));
    view.replaceChildren(legend(body.k, classes), chart, table);
    paintSwatches(view);
  }
  pick.addEventListener("change", show);
  show();
  return panel("Counts by 15 minutes", "counts", [field], view, csv);
}

// ---- matrices: turning movements and origin-destination ------------------------------

function matrix(id, rows, rowKey, colKey, k, corner, mark = "") {
  const rowsOf = unique(rows.map(rowKey).filter((x) => x !== ALL));
  const colsOf = unique(rows.map(colKey).filter((x) => x !== ALL));
  const groups = new Map();
  for (const r of rows) {
    const key = rowKey(r) + "|" + colKey(r);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  const get = (a, b) => sumOf(groups.get(a + "|" + b) || []);
  const at = (a, b) => (groups.has(a + "|" + b) ? paint(cell(get(a, b), k), get(a, b))
    : el("td", { class: "num muted", text: "–", title: "never seen in this window" }));
  const top = Math.max(1, ...rowsOf.flatMap((a) => colsOf.map((b) => get(a, b).sum)));
  const paint = (td, s) => {
    if (!td.classList.contains("withheld") && !td.classList.contains("down") && s.sum > 0) {
      td.style.backgroundColor = `rgba(63, 182, 255, ${(0.08 + 0.5 * s.sum / top).toFixed(3)})`;
    }
    return td;
  };
  const marked = (x) => (x === mark ? "marked" : null);
  return el("div", { class: "table-wrap" }, el("table", { class: "data matrix", id },
    el("thead", {}, el("tr", {}, el("th", { text: corner }),
      colsOf.map((b) => el("th", { class: marked(b), text: b })),
      el("th", { class: "total", text: "All" }))),
    el("tbody", {},
      rowsOf.map((a) => el("tr", {}, el("th", { class: marked(a), text: a }),
        colsOf.map((b) => at(a, b)), cell(get(a, ALL), k))),
      el("tr", { class: "total" }, el("th", { text: "All" }),
        colsOf.map((b) => cell(get(ALL, b), k)), cell(get(ALL, ALL), k)))));
}

function binChoice(id, body) {
  return chooser(id, "Bin", [["", "Whole window (sums)"],
    ...binsOf(body).map((b) => [isoOf(b), when(b)])], "");
}

function turningPanel(body, camera, csv) {
  const rows = body.rows.filter((r) => !camera || r.camera === camera);
  const junctions = unique(rows.map((r) => r.camera));
  if (!junctions.length) {
    return panel("Turning movements", "turning", [],
      emptyBox("No junction camera (two or more counting lines) on this selection."), csv);
  }
  const [jField, junction] = chooser("turning-camera", "Junction", junctions.map((j) => [j, j]),
    junctions[0]);
  const [cField, cls] = chooser("turning-class", "Class", [["", "All classes (sums)"],
    ...CLASSES.map((c) => [c, c])], "car");
  const [bField, bin] = binChoice("turning-bin", body);
  const view = el("div");
  function show() {
    const mine = rows.filter((r) => r.camera === junction.value && (!cls.value || r.class === cls.value)
      && (!bin.value || r.bin_start === bin.value));
    view.replaceChildren(matrix("traffic-turning-matrix", mine, (r) => r.entry, (r) => r.exit,
      body.k, "entry \\ exit"));
  }
  for (const s of [junction, cls, bin]) s.addEventListener("change", show);
  show();
  return panel("Turning movements", "turning", [jField, cField, bField], view, csv);
}

function odPanel(body, camera, csv) {
  // the whole matrix (a filter would drop the other cameras' totals), the camera marked
  const rows = body.rows;
  if (!rows.length) {
    return panel("Origin-destination", "od", [], emptyBox("No tracks between cameras."), csv);
  }
  const [cField, cls] = chooser("od-class", "Class", [["", "All classes (sums)"],
    ...CLASSES.map((c) => [c, c])], "");
  const [bField, bin] = binChoice("od-bin", body);
  const view = el("div");
  function show() {
    const mine = rows.filter((r) => (!cls.value || r.class === cls.value)
      && (!bin.value || r.bin_start === bin.value));
    view.replaceChildren(matrix("traffic-od-matrix", mine, (r) => r.origin, (r) => r.destination,
      body.k, "from \\ to", camera), el("p", { class: "hint", text: "Tracks from their first "
      + `camera to their last, in the bin they started. Fewer than ${body.k} are withheld.` }));
  }
  for (const s of [cls, bin]) s.addEventListener("change", show);
  show();
  return panel("Origin-destination", "od", [cField, bField], view, csv);
}

// ---- zones, speeds, journeys: one key at a time --------------------------------------

function keyed(rows, parts) {
  return unique(rows.filter((r) => parts.every((p) => r[p] !== ALL))
    .map((r) => parts.map((p) => r[p]).join("|")));
}

function zonesPanel(body, camera, csv) {
  const rows = body.rows.filter((r) => !camera || r.camera === camera);
  const zones = keyed(rows, ["camera", "zone"]);
  if (!zones.length) return panel("Zones", "zones", [], emptyBox("No zone on this selection."), csv);
  const [zField, zone] = chooser("zones-zone", "Zone", zones.map((z) => [z, z.replace("|", " · ")]),
    zones[0]);
  const [cField, cls] = chooser("zones-class", "Class", [[ALL, "All classes"],
    ...CLASSES.map((c) => [c, c])], "person");
  const view = el("div");
  function show() {
    const [cam, z] = zone.value.split("|");
    const at = new Map(rows.filter((r) => r.camera === cam && r.zone === z)
      .map((r) => [r.bin_start + "|" + r.class, r]));
    const bins = binsOf(body);
    const row = (b, c) => at.get(isoOf(b) + "|" + c);
    const down = bins.map((b) => row(b, ALL)?.status === "camera_down");
    const seen = CLASSES.filter((c) => bins.some((b) => row(b, c) && row(b, c).entries !== 0));
    const chart = stackedBars({ bins, down, downText: DOWN_TEXT, withheldText: withheldText(body.k),
      unit: "entries", height: 150, series: (seen.length ? seen : ["person"]).map((c) => ({
        name: c, colour: CLASS_COLOURS[c], values: bins.map((b) => (row(b, c) ? row(b, c).entries : 0)) })) });
    const table = scrollTable("traffic-zones-table", ["Bin", "Entries", "Exits", "Occupancy mean",
      "Occupancy peak", "Dwell p50 (s)", "Dwell p90 (s)"],
    bins.map((b) => {
      const r = row(b, cls.value);
      return el("tr", {}, el("td", {}, el("time", { text: hhmm(b), title: when(b) })),
        valueCell(r, "entries", body.k), valueCell(r, "exits", body.k),
        valueCell(r, "occupancy_mean", body.k, 2), valueCell(r, "occupancy_max", body.k),
        valueCell(r, "dwell_p50_s", body.k, 1), valueCell(r, "dwell_p90_s", body.k, 1));
    }));
    view.replaceChildren(chart, table);
  }
  for (const s of [zone, cls]) s.addEventListener("change", show);
  show();
  return panel("Zones", "zones", [zField, cField], view, csv);
}

function rangePanel({ body, camera, csv, name, title, parts, label, low, mid, high, unit,
  columns, empty }) {
  const ends = parts[0] === "origin" ? ["origin", "destination"] : ["camera"];
  const rows = body.rows.filter((r) => !camera || ends.some((p) => r[p] === camera));
  const keys = keyed(rows, parts);
  if (!keys.length) return panel(title, name, [], emptyBox(empty), csv);
  const shown = new Map();  // key|class -> bins with published percentiles
  for (const r of rows) {
    if (r[mid] === null) continue;
    const k = parts.map((p) => r[p]).join("|") + "|" + r.class;
    shown.set(k, (shown.get(k) || 0) + 1);
  }
  const best = [...shown].sort((a, b) => b[1] - a[1])[0];
  const bestKey = best ? best[0].split("|").slice(0, -1).join("|") : keys[0];
  const [kField, key] = chooser(name + "-key", label, keys.map((x) => [x, x.split("|").join(" · ")
    .replace(" · ", parts[0] === "origin" ? " → " : " · ")]), bestKey);
  const present = CLASSES.filter((c) => rows.some((r) => r.class === c && r.count !== 0));
  const [cField, cls] = chooser(name + "-class", "Class", (present.length ? present : CLASSES)
    .map((c) => [c, c]), best ? best[0].split("|").at(-1) : present[0]);
  const view = el("div");
  function show() {
    const values = key.value.split("|");
    const at = new Map(rows.filter((r) => parts.every((p, i) => r[p] === values[i])
      && r.class === cls.value).map((r) => [r.bin_start, r]));
    const bins = binsOf(body);
    const row = (b) => at.get(isoOf(b));
    const pick = (f) => bins.map((b) => (f && row(b) ? row(b)[f] : null));
    const chart = ranges({ bins, low: pick(low), mid: pick(mid), high: pick(high), unit,
      withheld: bins.map((b) => row(b)?.status === "suppressed" && row(b)[mid] === null),
      down: bins.map((b) => row(b)?.status === "camera_down"),
      withheldText: `withheld: made of fewer than ${body.k}`, downText: DOWN_TEXT });
    const table = scrollTable(`traffic-${name}-table`, ["Bin", ...columns.map((c) => c[1])],
      bins.map((b) => el("tr", {}, el("td", {}, el("time", { text: hhmm(b), title: when(b) })),
        columns.map(([f, , d]) => valueCell(row(b), f, body.k, d)))));
    view.replaceChildren(chart, table);
  }
  for (const s of [key, cls]) s.addEventListener("change", show);
  show();
  return panel(title, name, [kField, cField], view, csv);
}

// ---- the page --------------------------------------------------------------------------

export async function render(root, ctx) {
  useStyle("traffic");
  const dayInput = el("input", { id: "traffic-day", type: "date",
    value: ctx.query.get("day") || localDay(new Date()) });
  const [daysField, daysSel] = chooser("traffic-days", "Length", DAYS, ctx.query.get("days") || "1");
  const [camField, camSel] = chooser("traffic-camera", "Camera",
    [["", "All cameras"]], ctx.query.get("camera") || "");
  const out = el("div", { id: "traffic-results" });
  const form = el("form", { class: "form-row traffic-form" },
    el("label", { class: "field" }, el("span", { text: "Day" }), dayInput), daysField, camField,
    el("button", { type: "submit", class: "button" }, "Show"));
  root.replaceChildren(
    el("div", { class: "page-head" }, el("h1", { text: "Traffic" }),
      el("p", { class: "hint", text: "Published traffic tables per 15-minute bin. Small numbers "
        + "are withheld so that no vehicle or person can be singled out." })),
    el("section", { class: "panel" }, form), out);
  let data = null;
  let asked = null;
  let wanted = ctx.query.get("camera") || "";

  function csv(name) {
    download("/api/traffic/" + name, { ...asked, camera: camSel.value || undefined,
      format: "csv" }, `traffic-${name}.csv`).catch((err) => toast(err.message, "error"));
  }

  function draw() {
    if (!data) return;
    const camera = camSel.value;
    window.history.replaceState(null, "", ctx.href("traffic", null,
      { day: dayInput.value, days: daysSel.value, ...(camera ? { camera } : {}) }));
    const { counts, turning, zones, speeds, journeys, od } = data;
    const withheld = TABLES.reduce((n, t) => n + data[t].suppressed, 0);
    out.replaceChildren(
      el("p", { class: "hint traffic-window", text: `Bins from ${when(tsOf(counts.since))} to `
        + `${when(tsOf(counts.until))} (whole bins that are over). Counts under ${counts.k} and `
        + `flows under ${od.k} are withheld, with further cells where totals would give them `
        + `away; ${withheld} rows hold withheld values.` }),
      countsPanel(counts, camera, csv),
      el("div", { class: "traffic-grid" },
        turningPanel(turning, camera, csv),
        odPanel(od, camera, csv)),
      el("div", { class: "traffic-stack" },
        zonesPanel(zones, camera, csv),
        rangePanel({ body: speeds, camera, csv, name: "speeds", title: "Speeds",
          parts: ["camera", "rule"], label: "Line", low: "p15_kmh", mid: "p50_kmh",
          high: "p85_kmh", unit: "km/h", empty: "No speed measured on this selection.",
          columns: [["count", "Count"], ["p15_kmh", "p15 km/h", 1], ["p50_kmh", "p50 km/h", 1],
            ["p85_kmh", "p85 km/h", 1]] }),
        rangePanel({ body: journeys, camera, csv, name: "journeys", title: "Journey times",
          parts: ["origin", "destination", "source"], label: "Journey", low: "p50_s",
          mid: "p50_s", high: "p85_s", unit: "s", empty: "No journeys on this selection.",
          columns: [["count", "Count"], ["p50_s", "p50 (s)", 1], ["p85_s", "p85 (s)", 1]] })));
  }

  async function load() {
    out.replaceChildren(loading());
    const start = new Date(dayInput.value + "T00:00:00");
    if (Number.isNaN(start.getTime())) {
      out.replaceChildren(errorBox("Pick a day."));
      return;
    }
    const end = new Date(start);
    end.setDate(end.getDate() + Number(daysSel.value));
    asked = { since: start.getTime() / 1000, until: end.getTime() / 1000 };
    let bodies;
    try {
      bodies = await Promise.all(TABLES.map((t) => getJson("/api/traffic/" + t, asked)));
    } catch (err) {
      out.replaceChildren(errorBox(err.message, load));
      return;
    }
    if (!ctx.alive()) return;
    data = Object.fromEntries(TABLES.map((t, i) => [t, bodies[i]]));
    const cameras = unique(TABLES.flatMap((t) => data[t].rows.flatMap((r) =>
      [r.camera, r.origin, r.destination]))).filter((c) => c && c !== ALL).sort();
    const keep = camSel.value || wanted;
    wanted = "";
    camSel.replaceChildren(el("option", { value: "", text: "All cameras" }),
      ...cameras.map((c) => el("option", { value: c, text: c, selected: c === keep })));
    if (!data.counts.rows.length && !data.od.rows.length && !data.zones.rows.length) {
      out.replaceChildren(emptyBox("No traffic tables for this window (no bin is over yet, or "
        + "no camera counts anything)."));
      return;
    }
    draw();
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  camSel.addEventListener("change", draw);
  await load();
}
