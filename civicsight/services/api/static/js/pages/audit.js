// The auditor's workspace (read-only): the chain check at the top, the log filtered by user,
// action, case and time, each entry expandable to its full details, and per-case summaries
// (who searched what under each case, how many results). Every read is itself recorded in
// the log by the API. The whole chain is verified when the page opens and on "Check
// again"; changing a filter or loading more does not verify again (on a year-long log the
// check reads every entry).

import { getJson } from "../api.js";
import { el, emptyBox, errorBox, fromLocalInput, loading, timeEl, toLocalInput, useStyle }
  from "../dom.js";

// The audit log's actions (civicsight/audit.py ACTIONS), grouped for the filter.
export const ACTION_GROUPS = [
  ["Searches", ["search.tracks", "search.plates", "search.image", "search.biometric",
    "track.view", "thumbnail.view", "export"]],
  ["Tracks", ["track.merge", "track.split"]],
  ["Watchlist and alerts", ["watchlist.add", "watchlist.remove", "watchlist.expired",
    "watchlist.view", "alert.raised", "alert.view", "alert.confirm", "alert.dismiss"]],
  ["Sign-in", ["login", "login.failed", "logout", "password.changed"]],
  ["Administration", ["user.add", "user.password_reset", "user.disable", "user.enable",
    "token.issue", "token.revoke", "setting.change", "camera.faces_enabled",
    "camera.faces_disabled", "camera.rules"]],
  ["Traffic data", ["traffic.read", "traffic.export", "aggregates.read"]],
  ["Audit and retention", ["audit.read", "audit.verified", "audit.purged", "retention.run"]],
];
const FAMILIES = [["search.*", "Every search (search.*)"], ["watchlist.*", "Every watchlist change"],
  ["alert.*", "Every alert step"], ["user.*", "Every user change"],
  ["token.*", "Every token change"], ["camera.*", "Every camera change"]];
const PAGE = 100;

function plural(n, one, many = one + "s") {
  return n.toLocaleString() + " " + (n === 1 ? one : many);
}
const entries = (n) => plural(n, "entry", "entries");

function short(value, max = 60) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

function resultCount(d) {
  if (Array.isArray(d.results)) return plural(d.results.length, "result");
  if (typeof d.results === "number") return plural(d.results, "result");
  if (Array.isArray(d.matches)) return plural(d.matches.length, "match", "matches");
  return null;
}

/** One line saying what an entry's details hold (the full details expand below it). */
export function summary(entry) {
  const d = entry.details || {};
  const a = entry.action;
  const parts = [];
  if (a.startsWith("search.")) {
    const q = d.query || {};
    if (q.pattern) parts.push((q.mode || "plate") + " " + q.pattern);
    if (q.cls) parts.push(q.cls);
    if (d.purpose) parts.push("“" + short(d.purpose, 50) + "”");
    const n = resultCount(d);
    if (n) parts.push(n);
  } else if (d.track) {
    parts.push("track " + d.track);
    if (d.purpose) parts.push("“" + short(d.purpose, 40) + "”");
  } else if (a === "login" || a === "login.failed") {
    parts.push(d.method ? "with " + d.method : "", d.client ? "from " + d.client : "");
  } else if (a.startsWith("user.")) {
    parts.push("user " + d.user + (d.user_role ? " as " + d.user_role : ""));
  } else if (a.startsWith("token.")) {
    parts.push("token " + d.token_id + (d.token_role ? " (" + d.token_role + ")" : "")
      + (d.label ? " “" + short(d.label, 30) + "”" : ""));
  } else if (a.startsWith("camera.") || a === "setting.change") {
    parts.push("camera " + (d.camera_id || d.camera || "?"));
    if (d.changed) parts.push(Object.entries(d.changed).map(([k, v]) => k + " → " + v).join(", "));
    if (d.legal_basis) parts.push("basis “" + short(d.legal_basis, 40) + "”");
  } else if (a === "audit.verified") {
    parts.push(d.ok ? "intact" : "broken: " + d.problem, entries(d.checked || 0) + " checked");
  } else if (a.startsWith("alert.")) {
    parts.push("alert " + (d.alert_id || "?"), d.state || "", d.reason ? "“" + short(d.reason, 40) + "”" : "");
  } else if (a.startsWith("watchlist.")) {
    parts.push((d.watchlist_id || "?") + "/" + (d.entry_id || "?"));
  } else {
    parts.push(Object.entries(d).map(([k, v]) => k + " " + short(v, 30)).join(", "));
  }
  return parts.filter(Boolean).join(" · ");
}

function chainPanel(page, onCheck) {
  const box = el("section", { id: "chain", class: "panel chain" });
  const scheduled = page.scheduled
    ? el("p", { class: "chain-scheduled" }, "Last scheduled check: ", timeEl(page.scheduled.at),
      " — " + (page.scheduled.ok ? "intact" : "found a problem: " + page.scheduled.problem)
      + ", " + entries(page.scheduled.checked) + ".")
    : el("p", { class: "chain-scheduled", text: "No scheduled check recorded yet (civicsight up "
      + "checks at start and daily)." });
  const again = el("button", { type: "button", id: "chain-recheck", class: "button button-quiet",
    onclick: onCheck }, "Check again");
  if (page.intact === true) {
    box.classList.add("chain-ok");
    box.append(el("div", { class: "chain-line" },
      el("span", { class: "chain-mark", "aria-hidden": "true", text: "✓" }),
      el("div", {}, el("strong", { id: "chain-status", text: "Chain intact" }),
        el("span", { class: "chain-detail", text: " — " + entries(page.checked) + " checked just now: none edited, none deleted." })),
      again), scheduled);
  } else if (page.intact === false) {
    box.classList.add("chain-bad");
    box.setAttribute("role", "alert");
    box.append(el("div", { class: "chain-line" },
      el("span", { class: "chain-mark", "aria-hidden": "true", text: "!" }),
      el("div", {}, el("strong", { id: "chain-status", text: "Chain broken" }),
        el("span", { class: "chain-detail", text: " — first problem"
          + (page.problem_seq ? " at entry #" + page.problem_seq : "") + ": " + page.problem
          + " (" + entries(page.checked) + " checked)." })),
      again), scheduled);
  } else {
    box.append(el("div", { class: "chain-line" }, el("strong", { id: "chain-status",
      text: "Chain not checked" }), again), scheduled);
  }
  return box;
}

function actionSelect() {
  return el("select", { id: "audit-action", name: "action" },
    el("option", { value: "", text: "Any action" }),
    el("optgroup", { label: "Families" }, FAMILIES.map(([v, label]) =>
      el("option", { value: v, text: label }))),
    ACTION_GROUPS.map(([label, names]) => el("optgroup", { label },
      names.map((n) => el("option", { value: n, text: n })))));
}

function field(label, input) {
  return el("label", { class: "field" }, el("span", { text: label }), input);
}

function entryRows(entry) {
  const details = el("pre", { class: "audit-json", text: JSON.stringify(entry.details, null, 2)
    + "\n\n#" + entry.seq + "  mac " + entry.mac.slice(0, 16) + "…  prev "
    + entry.prev.slice(0, 16) + "…" });
  const more = el("tr", { class: "audit-more", hidden: true },
    el("td", { colspan: 7 }, details));
  const toggle = el("button", { type: "button", class: "audit-toggle", "aria-expanded": "false",
    title: "Show the full details", text: "▸" });
  const row = el("tr", { class: "audit-row", dataset: { seq: entry.seq, action: entry.action } },
    el("td", {}, toggle),
    el("td", { class: "num" }, el("span", { class: "seq", text: "#" + entry.seq }), " ",
      timeEl(entry.at)),
    el("td", { class: "audit-actor", text: entry.actor }),
    el("td", {}, el("span", { class: "pill role-pill", text: entry.role })),
    el("td", {}, el("code", { class: "action action-" + entry.action.split(".")[0],
      text: entry.action })),
    el("td", { class: "audit-case", text: entry.details.case_id || "—" }),
    el("td", { class: "audit-summary", text: summary(entry) }));
  const flip = () => {
    const open = more.hidden;
    more.hidden = !open;
    toggle.textContent = open ? "▾" : "▸";
    toggle.setAttribute("aria-expanded", String(open));
    row.classList.toggle("open", open);
  };
  toggle.addEventListener("click", flip);
  row.addEventListener("dblclick", flip);
  return [row, more];
}

function casesPanel(data, onPick) {
  if (!data.cases.length) return emptyBox("No entry carries a case in this period.");
  const num = (n, title) => el("td", { class: "num", title, text: n.toLocaleString() });
  return el("div", { class: "table-wrap" }, el("table", { class: "data cases-table" },
    el("thead", {}, el("tr", {}, [["Case and who", ""], ["Searches", "num"], ["Results", "num"],
      ["Tracks", "num"]].map(([h, cls]) => el("th", { class: cls, text: h })))),
    el("tbody", {}, data.cases.map((c) => el("tr", { dataset: { case: c.case_id } },
      el("td", {}, el("button", { type: "button", class: "link-button case-pick",
        title: "Show this case's entries", onclick: () => onPick(c.case_id), text: c.case_id }),
      el("div", { class: "case-users", title: c.users.join(", "), text: c.users.join(", ") }),
      el("div", { class: "case-when" }, "first ", timeEl(c.first_at), " · last ",
        timeEl(c.last_at))),
      num(c.searches, Object.entries(c.by_action).map(([k, v]) => k + ": " + v).join("\n")),
      num(c.results, "results the searches returned"),
      num(c.tracks_opened, "different tracks opened"))))));
}

export async function render(root, ctx) {
  useStyle("audit");
  const q = ctx.query;
  const inputs = {
    actor: el("input", { id: "audit-actor", name: "actor", type: "text", spellcheck: "false",
      maxlength: 120, placeholder: "user name", value: q.get("actor") || "" }),
    action: actionSelect(),
    case: el("input", { id: "audit-case", name: "case", type: "text", spellcheck: "false",
      maxlength: 64, placeholder: "e.g. 2026-0142", value: q.get("case") || "" }),
    since: el("input", { id: "audit-since", name: "since", type: "datetime-local" }),
    until: el("input", { id: "audit-until", name: "until", type: "datetime-local" }),
    order: el("select", { id: "audit-order", name: "order" },
      el("option", { value: "newest", text: "Newest first" }),
      el("option", { value: "oldest", text: "Oldest first" })),
  };
  inputs.action.value = q.get("action") || "";
  if (q.get("since")) inputs.since.value = toLocalInput(Number(q.get("since")));
  if (q.get("until")) inputs.until.value = toLocalInput(Number(q.get("until")));
  const form = el("form", { id: "audit-filters", class: "audit-filters", autocomplete: "off" },
    field("User", inputs.actor), field("Action", inputs.action), field("Case", inputs.case),
    field("From", inputs.since), field("To", inputs.until), field("Order", inputs.order),
    el("div", { class: "filter-buttons" },
      el("button", { type: "submit", id: "audit-apply", class: "button" }, "Apply"),
      el("button", { type: "button", id: "audit-clear", class: "button button-quiet",
        onclick: () => { form.reset(); inputs.action.value = ""; apply(); } }, "Clear")));

  const chainSlot = el("div", { id: "chain-slot" }, loading("Checking the chain…"));
  const tbody = el("tbody", { id: "audit-entries" });
  const table = el("div", { class: "table-wrap" }, el("table", { class: "data audit-table" },
    el("thead", {}, el("tr", {}, ["", "When", "Who", "Role", "Action", "Case", "Details"]
      .map((h) => el("th", { text: h })))), tbody));
  const status = el("p", { id: "audit-status", class: "count" });
  const moreButton = el("button", { type: "button", id: "audit-more", class: "button button-quiet",
    hidden: true }, "Load older entries");
  const entriesPanel = el("section", { class: "panel audit-entries" },
    el("div", { class: "panel-head" }, el("h2", { text: "Entries" }), status),
    el("div", { id: "audit-list" }, table), el("div", { class: "load-more" }, moreButton));
  const casesBody = el("div", { id: "audit-cases" }, loading());
  const casesCount = el("span", { class: "count" });
  const casesPanelBox = el("aside", { class: "panel audit-cases" },
    el("div", { class: "panel-head" }, el("h2", { text: "Cases" }), casesCount),
    el("p", { class: "hint", text: "Who worked under each case, how many searches, the "
      + "results they returned and the tracks opened. Pick a case to see its entries." }),
    casesBody);

  root.replaceChildren(
    el("div", { class: "page-head" }, el("h1", { text: "Audit log" }),
      el("p", { class: "hint", text: "Read-only. Your reading is recorded in the log too." })),
    chainSlot,
    el("section", { class: "panel audit-filter-bar", "aria-label": "Filters" }, form),
    el("div", { class: "audit-grid" }, entriesPanel, casesPanelBox));

  let next = null;
  let shown = 0;

  function filters() {
    const out = { order: inputs.order.value };
    if (inputs.actor.value.trim()) out.actor = inputs.actor.value.trim();
    if (inputs.action.value) out.action = inputs.action.value;
    if (inputs.case.value.trim()) out.case = inputs.case.value.trim();
    const since = fromLocalInput(inputs.since.value);
    const until = fromLocalInput(inputs.until.value);
    if (since !== null) out.since = since;
    if (until !== null) out.until = until;
    return out;
  }

  async function loadEntries({ verify = false, append = false } = {}) {
    const query = { ...filters(), limit: PAGE, verify: String(verify) };
    if (append && next !== null) query.cursor = next;
    if (!append) {
      tbody.replaceChildren();
      shown = 0;
      status.textContent = "Loading…";
    }
    moreButton.disabled = true;
    let page;
    try {
      page = await getJson("/api/audit", query);
    } catch (err) {
      if (!ctx.alive()) return;
      status.textContent = "";
      document.getElementById("audit-list").replaceChildren(errorBox(err.message,
        () => { document.getElementById("audit-list").replaceChildren(table); loadEntries({ verify }); }));
      if (verify) chainSlot.replaceChildren(errorBox("The chain could not be checked: " + err.message));
      return;
    }
    if (!ctx.alive()) return;
    if (verify) chainSlot.replaceChildren(chainPanel(page, () => recheck()));
    for (const entry of page.entries) tbody.append(...entryRows(entry));
    shown += page.entries.length;
    next = page.next;
    moreButton.hidden = next === null;
    moreButton.disabled = false;
    status.textContent = shown ? entries(shown)
      + " shown" + (next !== null ? ", more below" : "") : "";
    if (!shown) tbody.append(el("tr", {}, el("td", { colspan: 7 },
      emptyBox("No entry matches these filters."))));
  }

  async function loadCases() {
    const f = filters();
    const query = { limit: 50 };
    if (f.since !== undefined) query.since = f.since;
    if (f.until !== undefined) query.until = f.until;
    try {
      const data = await getJson("/api/audit/cases", query);
      if (!ctx.alive()) return;
      casesCount.textContent = data.total > data.cases.length
        ? data.cases.length + " of " + data.total : plural(data.total, "case");
      casesBody.replaceChildren(casesPanel(data, (caseId) => {
        inputs.case.value = caseId;
        apply();
      }));
    } catch (err) {
      if (ctx.alive()) casesBody.replaceChildren(errorBox(err.message, loadCases));
    }
  }

  function apply() {
    const f = filters();
    delete f.order;
    const target = ctx.href("audit", null, f);
    window.history.replaceState(null, "", target);
    loadEntries();
    loadCases();
  }

  async function recheck() {
    chainSlot.replaceChildren(loading("Checking the chain…"));
    await loadEntries({ verify: true });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });
  moreButton.addEventListener("click", () => loadEntries({ append: true }));
  await loadEntries({ verify: true });
  loadCases();
  return () => {};
}
