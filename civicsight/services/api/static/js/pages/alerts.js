// Alerts: the queue of watchlist matches for operators and investigators.
//
// Each card sets the face the camera saw beside the enrolled photo, with the match score
// against its threshold, and the four-eyes rule in words: an alert is confirmed only when
// two different people confirm it, so whoever already confirmed sees their button
// disabled with the reason, and any refusal of the API is shown on the card. The queue
// refreshes every few seconds. Every face shown is a view the hub audits, so images are
// fetched once per card and, for alerts already decided, only on request.

import { getJson, objectUrl, request } from "../api.js";
import { dialog, el, emptyBox, errorBox, formatTime, timeEl, toast, useStyle, ago } from "../dom.js";
import { faceCamerasPanel } from "../parts/facecams.js";

const REFRESH_MS = 5000;
const FILTERS = [
  ["new", "To review"],
  ["confirmed", "Confirmed"],
  ["dismissed", "Dismissed"],
  ["", "All"],
];
const STATE_NAMES = { new: "New", confirmed: "Confirmed", dismissed: "Dismissed" };

function people(list) {
  if (list.length <= 1) return list.join("");
  return list.slice(0, -1).join(", ") + " and " + list[list.length - 1];
}

/** The four-eyes rule for one alert, in words (pure). */
export function reviewText(alert) {
  const who = alert.confirmations.map((c) => c.user);
  const n = who.length;
  const need = alert.confirmations_needed;
  if (alert.state === "confirmed") {
    return { tone: "ok", text: `Confirmed by ${people(who)}: ${n} of ${need} confirmations, `
      + "from different people." };
  }
  if (alert.state === "dismissed") {
    return { tone: "muted", text: `Dismissed by ${alert.dismissed_by}`
      + (n ? ` (after ${n} of ${need} confirmations by ${people(who)}).` : ".") };
  }
  if (!n) {
    return { tone: "warn", text: `0 of ${need} confirmations. Two different people must `
      + "confirm this match before it counts." };
  }
  const you = alert.confirmed_by_you ? " (you)" : "";
  return { tone: "warn", text: `${n} of ${need} confirmations — confirmed by ${people(who)}`
    + `${you}; a different person must confirm.` };
}

function scoreBlock(alert) {
  const fill = el("span", { class: "score-fill" });
  fill.style.width = Math.max(2, Math.round(alert.score * 100)) + "%"; // CSSOM: allowed by the CSP
  const facts = [el("span", { class: "score-value", text: alert.score.toFixed(2) }),
    el("span", { class: "score-label", text: " match score" })];
  let detail = "score 1 = identical faces; any score above 0 is within the threshold";
  if (alert.threshold !== null && alert.threshold !== undefined) {
    const distance = (1 - alert.score) * alert.threshold;
    detail = `face distance ${distance.toFixed(2)}, below the threshold ${alert.threshold.toFixed(2)}`
      + " (smaller is closer)";
  }
  return el("div", { class: "alert-score" },
    el("div", { class: "score-line" }, ...facts),
    el("div", { class: "score-bar", role: "meter", "aria-valuemin": "0", "aria-valuemax": "1",
      "aria-valuenow": alert.score.toFixed(2), "aria-label": "match score" }, fill),
    el("div", { class: "score-detail", text: detail }));
}

export async function render(root, ctx) {
  useStyle("alerts");
  const me = ctx.me;
  const images = new Map(); // `${alertId}/${kind}` -> Promise<object URL | null>
  const shownImages = new Map(); // same key -> the <img> showing it (moved, never refetched)
  const revealed = new Set(); // decided alerts whose faces the reader asked to see
  const problems = new Map(); // alertId -> message of the API's last refusal
  const busy = new Set();
  let filter = ctx.query.get("state") ?? "new";
  if (!FILTERS.some(([v]) => v === filter)) filter = "new";
  let timer = null;
  let stopped = false;
  let last = null;

  const filterBar = el("div", { class: "alert-filters", role: "group", "aria-label": "Show" });
  const status = el("span", { class: "alert-status", role: "status" });
  const list = el("div", { class: "alert-list", id: "alert-list", "aria-live": "polite" },
    el("p", { class: "loading", text: "Loading…" }));
  const side = faceCamerasPanel();
  root.replaceChildren(
    el("div", { class: "page-head" },
      el("div", {},
        el("h1", { text: "Alerts" }),
        el("p", { class: "hint", text: "Watchlist matches from the cameras that match faces. "
          + "Compare the two faces; a match counts only when two different people confirm it." })),
      el("div", { class: "alert-toolbar" }, filterBar, status)),
    el("div", { class: "alerts-layout" },
      list,
      el("aside", { class: "alerts-side" },
        el("section", { class: "panel rule-panel", id: "four-eyes" },
          el("div", { class: "panel-head" }, el("h2", { text: "Four eyes" })),
          el("ol", { class: "rule-steps" },
            el("li", { text: "A first reviewer compares the faces and confirms, or dismisses with a reason." }),
            el("li", { text: "A different person confirms it too. Only then is the alert confirmed." }),
            el("li", { text: "Nobody can confirm the same alert twice. Every step and every face "
              + "viewed is in the audit log under your name." })),
          el("p", { class: "hint rule-you", text: `You are signed in as ${me.label}.` })),
        side.node)));

  function image(alert, kind) {
    const key = alert.alert_id + "/" + kind;
    if (!images.has(key)) {
      const path = `/api/alerts/${alert.alert_id}/${kind === "crop" ? "crop" : "reference"}.jpg`;
      images.set(key, objectUrl(path).catch((err) => { images.delete(key); throw err; }));
    }
    return images.get(key);
  }

  function figure(alert, kind) {
    const caption = kind === "crop" ? "Seen on camera" : "Enrolled photo";
    const has = kind === "crop" ? alert.has_face : alert.has_reference;
    const frame = el("div", { class: "face-frame" });
    const fig = el("figure", { class: "face face-" + kind }, frame,
      el("figcaption", { text: caption }));
    if (!has) {
      frame.append(el("span", { class: "face-missing", text: kind === "crop"
        ? "No face kept for this alert."
        : "No enrolled photo: the entry left the watchlist (removed or expired), so its photo is deleted." }));
      return fig;
    }
    const decided = alert.state !== "new";
    if (decided && !revealed.has(alert.alert_id)) {
      frame.append(el("button", { type: "button", class: "button button-quiet face-reveal",
        onclick: () => { revealed.add(alert.alert_id); draw(); } }, "Show faces"));
      return fig;
    }
    const key = alert.alert_id + "/" + kind;
    if (shownImages.has(key)) {
      frame.append(shownImages.get(key));
      return fig;
    }
    frame.append(el("span", { class: "face-missing", text: "Loading…" }));
    image(alert, kind).then((url) => {
      if (!url) return;
      const img = el("img", { src: url, alt: caption + " (alert " + alert.alert_id + ")",
        class: "face-img" });
      shownImages.set(key, img);
      frame.replaceChildren(img);
    }).catch((err) => {
      frame.replaceChildren(el("span", { class: "face-missing", text: err.message }));
    });
    return fig;
  }

  async function act(alert, what) {
    let body;
    if (what === "dismiss") {
      const values = await dialog({
        title: "Dismiss this alert",
        text: "Say why the match is wrong or no longer relevant. The reason is kept with the "
          + "alert and in the audit log.",
        fields: [{ name: "reason", label: "Reason", type: "textarea", required: true,
          minlength: 5, maxlength: 500, placeholder: "e.g. a lookalike: different ears and chin" }],
        submit: "Dismiss alert",
        danger: true,
      });
      if (!values) return;
      body = { reason: values.reason.trim() };
    }
    busy.add(alert.alert_id);
    problems.delete(alert.alert_id);
    draw();
    try {
      const resp = await request(`/api/alerts/${alert.alert_id}/${what}`,
        { method: "POST", json: body });
      const out = await resp.json();
      if (what === "dismiss") toast("Alert dismissed.", "ok");
      else if (out.state === "confirmed") toast("Alert confirmed by two people.", "ok");
      else toast("Your confirmation is recorded. A different person must confirm too.", "ok");
    } catch (err) {
      problems.set(alert.alert_id, err.message);
    } finally {
      busy.delete(alert.alert_id);
    }
    await load();
  }

  function actions(alert) {
    if (alert.state !== "new") return null;
    const working = busy.has(alert.alert_id);
    const mine = alert.confirmed_by_you;
    const confirm = el("button", { type: "button", class: "button alert-confirm",
      disabled: working || mine, "aria-describedby": mine ? `why-${alert.alert_id}` : null,
      onclick: () => act(alert, "confirm") },
      alert.confirmations.length ? "Confirm (second person)" : "Confirm match");
    const dismiss = el("button", { type: "button", class: "button button-quiet alert-dismiss",
      disabled: working, onclick: () => act(alert, "dismiss") }, "Dismiss…");
    const mineAt = alert.confirmations.find((c) => c.user === me.label);
    return el("div", { class: "alert-actions" }, confirm, dismiss,
      mine ? el("p", { class: "alert-why", id: `why-${alert.alert_id}`,
        text: `You confirmed this${mineAt ? " at " + formatTime(mineAt.at) : ""}. `
          + "The second confirmation must come from a different person." }) : null);
  }

  function card(alert) {
    const review = reviewText(alert);
    const problem = problems.get(alert.alert_id);
    const entry = [el("span", { class: "alert-meta-item" }, "Watchlist ",
      el("code", { text: alert.watchlist_id }), " · entry ", el("code", { text: alert.entry_id }))];
    if (alert.case_id) entry.push(el("span", { class: "alert-meta-item" }, "Case ",
      el("strong", { text: alert.case_id })));
    if (alert.label) entry.push(el("span", { class: "alert-meta-item alert-label" }, "Enrolled as ",
      el("strong", { text: alert.label })));
    const steps = Array.from({ length: alert.confirmations_needed }, (_, i) => {
      const c = alert.confirmations[i];
      return el("li", { class: "review-step" + (c ? " done" : "") },
        c ? el("span", {}, el("strong", { text: c.user }), " ", timeEl(c.at))
          : el("span", { class: "review-open", text: i === 0 ? "first reviewer" : "a different person" }));
    });
    return el("article", { class: `alert-card state-${alert.state}`, id: `alert-${alert.alert_id}`,
      dataset: { alertId: alert.alert_id, state: alert.state } },
      el("header", { class: "alert-head" },
        el("span", { class: `pill state-pill state-pill-${alert.state}`, text: STATE_NAMES[alert.state] }),
        el("strong", { class: "alert-camera", text: alert.camera_name }),
        el("span", { class: "alert-track", text: `track ${alert.track_id}` }),
        el("span", { class: "alert-times" }, "first seen ", timeEl(alert.first_at),
          alert.last_at > alert.first_at + 1 ? el("span", {}, " · last seen ", timeEl(alert.last_at)) : null,
          el("span", { class: "alert-ago", text: " (" + ago(Date.now() / 1000 - alert.last_at) + ")" }))),
      el("div", { class: "alert-body" },
        el("div", { class: "alert-faces" }, figure(alert, "crop"), figure(alert, "reference")),
        el("div", { class: "alert-facts" },
          scoreBlock(alert),
          el("div", { class: "alert-meta" }, entry),
          el("div", { class: `alert-review tone-${review.tone}` },
            el("ol", { class: "review-steps", "aria-label": "confirmations" }, steps),
            el("p", { class: "review-text", text: review.text })),
          alert.state === "dismissed" ? el("p", { class: "alert-reason" }, "Reason: ",
            el("q", { text: alert.dismiss_reason || "" })) : null,
          problem ? el("div", { class: "alert-problem", role: "alert" },
            el("strong", { text: "Refused: " }), el("span", { text: problem }),
            el("button", { type: "button", class: "button button-quiet", "aria-label": "Close",
              onclick: () => { problems.delete(alert.alert_id); draw(); } }, "×")) : null,
          actions(alert))));
  }

  function drawFilters() {
    const counts = (last && last.counts) || {};
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    filterBar.replaceChildren(...FILTERS.map(([value, label]) => {
      const n = value ? counts[value] || 0 : total;
      return el("button", { type: "button", class: "filter" + (value === filter ? " active" : ""),
        "aria-pressed": value === filter ? "true" : "false", dataset: { state: value || "all" },
        onclick: () => { filter = value; draw(); load(); } },
        label, el("span", { class: "filter-count", text: String(n) }));
    }));
  }

  let drawn = "";
  function draw(force = true) {
    drawFilters();
    if (!last) return;
    const items = last.items.filter((a) => !filter || a.state === filter);
    // a refresh that changed nothing leaves the cards alone (no flicker, no lost click)
    const signature = JSON.stringify([items, filter, [...problems], [...busy], [...revealed],
      Math.floor(Date.now() / 60_000)]);
    if (!force && signature === drawn) return;
    drawn = signature;
    if (!items.length) {
      list.replaceChildren(emptyBox(filter === "new"
        ? "No alert waits for review. New watchlist matches appear here within seconds."
        : "No alerts here."));
      return;
    }
    list.replaceChildren(...items.map(card));
  }

  async function load() {
    try {
      last = await getJson("/api/alerts", { state: filter || undefined });
      if (stopped) return;
      status.textContent = "Updated " + new Date().toLocaleTimeString();
      status.classList.remove("bad");
      draw(false);
    } catch (err) {
      if (stopped) return;
      if (!last) list.replaceChildren(errorBox(err.message, load));
      status.textContent = "Not updated: " + err.message;
      status.classList.add("bad");
    }
  }

  async function loop() {
    if (stopped || !ctx.alive()) return;
    await load();
    if (!stopped) timer = window.setTimeout(loop, REFRESH_MS);
  }

  drawFilters();
  await loop();
  return () => {
    stopped = true;
    if (timer) window.clearTimeout(timer);
    for (const p of images.values()) p.then((url) => url && URL.revokeObjectURL(url), () => {});
    images.clear();
  };
}
