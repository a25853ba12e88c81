// Traffic (traffic analysts, administrators): counts per camera, class and bin, and flows
// between cameras, over whole, settled bins; counts under the suppression limit show as
// "< 5", never as a number. No track, plate or crop is ever shown here.

import { getJson } from "../api.js";
import { el, emptyBox, errorBox, formatTime, loading, useStyle } from "../dom.js";

const WINDOWS = [
  ["1", "last 24 hours"],
  ["7", "last 7 days"],
  ["31", "last 31 days"],
];
const BINS = [
  ["900", "15 minutes"],
  ["3600", "1 hour"],
  ["86400", "1 day"],
];

function select(id, options, value) {
  return el("select", { id }, options.map(([v, label]) =>
    el("option", { value: v, text: label, selected: v === value })));
}

const fullTime = (ts) => new Date(ts * 1000).toLocaleString();

function countCell(count, minCount) {
  return count === null
    ? el("td", { class: "num suppressed", title: `fewer than ${minCount}: suppressed`,
      text: `< ${minCount}` })
    : el("td", { class: "num", text: String(count) });
}

export async function render(root, ctx) {
  useStyle("traffic");
  const windowSel = select("traffic-window", WINDOWS, ctx.query.get("days") || "1");
  const binSel = select("traffic-bin", BINS, ctx.query.get("bin") || "3600");
  const out = el("div", { id: "traffic-results" });
  const form = el("form", { class: "form-row traffic-form" },
    el("label", { class: "field" }, el("span", { text: "Window" }), windowSel),
    el("label", { class: "field" }, el("span", { text: "Bins" }), binSel),
    el("button", { type: "submit", class: "button" }, "Show"));
  root.replaceChildren(
    el("div", { class: "page-head" }, el("h1", { text: "Traffic" }),
      el("p", { class: "hint", text: "Counts over whole, settled bins; small counts are "
        + "suppressed so that no single vehicle or person can be singled out." })),
    el("section", { class: "panel" }, form), out);

  async function load() {
    out.replaceChildren(loading());
    const now = Date.now() / 1000;
    const since = now - Number(windowSel.value) * 86_400;
    let body;
    try {
      body = await getJson("/api/aggregates", { since, until: now, bucket_s: binSel.value });
    } catch (err) {
      out.replaceChildren(errorBox(err.message, load));
      return;
    }
    if (!ctx.alive()) return;
    const names = new Map();
    const counts = body.counts.length
      ? el("table", { class: "data", id: "traffic-counts" },
        el("thead", {}, el("tr", {}, ["Bin start", "Camera", "Class", "Count"].map((h) =>
          el("th", { text: h })))),
        el("tbody", {}, body.counts.slice().reverse().map((r) => el("tr", {},
          el("td", {}, el("time", { text: formatTime(r.bucket_start) })),
          el("td", { text: names.get(r.camera) || r.camera }),
          el("td", {}, el("span", { class: "cls cls-" + r.cls, text: r.cls })),
          countCell(r.count, body.min_count)))))
      : emptyBox("Nothing counted in this window.");
    const flows = body.flows.length
      ? el("table", { class: "data", id: "traffic-flows" },
        el("thead", {}, el("tr", {}, ["From", "To", "Class", "Count"].map((h) =>
          el("th", { text: h })))),
        el("tbody", {}, body.flows.map((f) => el("tr", {},
          el("td", { text: f.from_camera }), el("td", { text: f.to_camera }),
          el("td", {}, el("span", { class: "cls cls-" + f.cls, text: f.cls })),
          countCell(f.count, body.min_count)))))
      : emptyBox("No flows between cameras in this window.");
    out.replaceChildren(
      el("p", { class: "hint", text: `From ${fullTime(body.since)} to ${fullTime(body.until)}`
        + ` (whole bins only). Counts under ${body.min_count} show as “< ${body.min_count}”.` }),
      el("div", { class: "traffic-grid" },
        el("section", { class: "panel" }, el("div", { class: "panel-head" },
          el("h2", { text: "Counts" })), el("div", { class: "table-wrap" }, counts)),
        el("section", { class: "panel" }, el("div", { class: "panel-head" },
          el("h2", { text: "Flows between cameras" })), el("div", { class: "table-wrap" }, flows))));
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  await load();
}
