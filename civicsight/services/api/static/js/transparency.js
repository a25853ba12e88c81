// The public transparency page: fetches /api/transparency without any credentials and
// shows its aggregates as plain tables. Every value enters the page as text.

import { el } from "./dom.js";

const ANALYTICS = {
  detect: "Detection and tracking of people and vehicles",
  plates: "Licence plate reading",
  reid: "Re-identification across cameras",
  faces: "Face matching against the watchlist only",
};
const CATEGORIES = {
  missing_person: "Missing person",
  theft: "Theft or burglary",
  violence: "Violent crime",
  traffic_collision: "Traffic collision",
  public_safety: "Public safety",
  other: "Other",
};
const DATA_CLASSES = {
  frames: "Camera frames",
  crops: "Object crops",
  detections: "Detection boxes",
  appearances: "Appearance descriptors (re-identification)",
  plates_non_hit: "Plate reads matching no case",
  tracks: "Tracks and their best picture",
  alerts: "Watchlist alerts",
  audit: "Audit log",
  watchlist: "Watchlist entries",
};

function dateText(ts, withTime = false) {
  if (ts === null || ts === undefined) return "—";
  const d = new Date(ts * 1000);
  const opts = { year: "numeric", month: "long", day: "numeric" };
  if (withTime) Object.assign(opts, { hour: "2-digit", minute: "2-digit" });
  return d.toLocaleString(undefined, opts);
}

function monthText(month) {
  const [y, m] = month.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, 1)).toLocaleString(undefined,
    { year: "numeric", month: "long", timeZone: "UTC" });
}

function count(value) {
  const text = typeof value === "number" ? value.toLocaleString() : String(value);
  return el("td", { class: "num" + (typeof value === "number" ? "" : " suppressed"), text });
}

function section(id, title, ...children) {
  return el("section", { id, class: "block" }, el("h2", { text: title }), ...children);
}

/** A table; ``numeric`` says whether its columns after the first hold counts (then their
 * headings align right, with the numbers). */
function table(head, rows, cls = "", numeric = true) {
  return el("div", { class: "table-wrap" }, el("table", { class: "report-table " + cls },
    el("thead", {}, el("tr", {}, head.map((h, i) =>
      el("th", { scope: "col", class: i && numeric ? "num" : "", text: h })))),
    el("tbody", {}, rows)));
}

function chainCheck(check) {
  if (check.checked_at === null) {
    return el("div", { id: "chain", class: "chain chain-none" },
      el("strong", { text: "The audit log has not been checked yet." }));
  }
  const ok = check.intact === true;
  return el("div", { id: "chain", class: "chain " + (ok ? "chain-ok" : "chain-bad") },
    el("strong", { text: ok ? "Audit log intact" : "Audit log check found a problem" }),
    el("span", { text: ` — last checked ${dateText(check.checked_at, true)}`
      + (check.entries_checked !== null
        ? `, ${check.entries_checked.toLocaleString()} entries checked.` : ".") }),
    el("p", { class: "note", text: "Every use of the hub is written to a tamper-evident audit "
      + "log. The hub checks every day, and at every start, that no entry was edited or "
      + "deleted." }));
}

function cameras(list) {
  if (!list.length) return el("p", { class: "empty", text: "No cameras are configured." });
  return table(["Camera", "What it analyses"], list.map((c) => el("tr", {},
    el("td", {}, el("strong", { text: c.name }), " ", el("code", { text: c.id }),
      c.simulated ? el("span", { class: "tag", text: "simulated" }) : null),
    el("td", {}, c.analytics.length
      ? el("ul", { class: "analytics" }, c.analytics.map((a) =>
        el("li", { class: "analytic analytic-" + a, text: ANALYTICS[a] || a })))
      : el("span", { class: "muted", text: "Nothing" })))), "cameras-table", false);
}

function searches(data) {
  const cats = data.purpose_categories;
  return table(["Month", ...cats.map((c) => CATEGORIES[c] || c)],
    data.searches.map((m) => el("tr", {},
      el("th", { scope: "row", text: monthText(m.month) }),
      cats.map((c) => count(m.by_category[c])))), "searches-table");
}

function alerts(data) {
  return el("div", {},
    el("p", { class: "figure" },
      el("span", { class: "figure-label", text: "Active face watchlist entries: " }),
      el("strong", { id: "watchlist-count", text: String(data.watchlist_entries) })),
    el("p", { class: "note", text: "Faces are matched only against watchlist entries made "
      + "for a case, each with an expiry of at most a year; a face that matches nothing is "
      + "dropped at once. An alert is confirmed only when two different people confirm it." }),
    table(["Month", "Alerts raised", "Confirmed", "Dismissed"], data.alerts.map((m) =>
      el("tr", {}, el("th", { scope: "row", text: monthText(m.month) }),
        count(m.raised), count(m.confirmed), count(m.dismissed))), "alerts-table"));
}

function retention(rows) {
  return table(["Data", "Kept for", "Where"], rows.map((r) => el("tr", {},
    el("th", { scope: "row", text: DATA_CLASSES[r.data_class] || r.data_class }),
    el("td", { class: "keep", text: r.keep }),
    el("td", { class: "muted", text: r.what }))), "retention-table", false);
}

function render(data) {
  document.getElementById("generated").textContent = "Figures as of "
    + dateText(data.generated_at, true)
    + (data.counts_since ? "; counts from " + dateText(data.counts_since) : "") + ".";
  document.getElementById("report").replaceChildren(
    chainCheck(data.audit_check),
    section("cameras", "Cameras and their analytics", cameras(data.cameras)),
    section("searches", "Searches per month, by purpose",
      el("p", { class: "note", text: "Every search needs a signed-in investigator, a case and a "
        + "stated purpose. Counts from 1 to 4 read “" + data.suppressed_as + "”." }),
      searches(data)),
    section("watchlist", "Watchlist and alerts", alerts(data)),
    section("retention", "How long data is kept", retention(data.retention)));
}

async function start() {
  document.getElementById("print").addEventListener("click", () => window.print());
  const report = document.getElementById("report");
  try {
    const resp = await fetch("/api/transparency", { credentials: "omit", cache: "no-store" });
    if (!resp.ok) throw new Error("the hub answered " + resp.status);
    render(await resp.json());
  } catch (err) {
    document.getElementById("generated").textContent = "";
    report.replaceChildren(el("p", { class: "error", role: "alert",
      text: "The figures could not be loaded (" + err.message + "). Try again later." }));
  }
}

start();
