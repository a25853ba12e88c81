// The track page (#/track/<id>): where one object went across the cameras, in time order.
//
// The camera map draws the trajectory; beside it, one entry per camera visit (tracklet)
// with its thumbnail and times; then the plate reads with their confidence, and the
// track's merge/split history. Merge and split send a correction (a reason is required;
// both are audited) that the stream app applies; export downloads the track as a case
// file (zip) whose audit entry it names. Everything here carries the case bar's case and
// purpose; without a case the page shows the case prompt and asks the API nothing.

import { ForbiddenError, download, getJson, objectUrl, postJson } from "../api.js";
import { casePrompt, caseParams, onCaseChange } from "../casebar.js";
import { duration, el, emptyBox, errorBox, timeEl, toast, useStyle } from "../dom.js";
import { cameraMap } from "../parts/map.js";
import { lastSearch, recentTracks } from "./investigate.js";

const HISTORY_NAMES = {
  created: "Created",
  update: "Updated",
  merge: "Merged",
  split: "Split",
  "merge+split": "Merged and split",
};

function trackUrl(id, rest = "") {
  return "/api/tracks/" + encodeURIComponent(id) + rest;
}

function cameraName(cameras, id) {
  const cam = cameras.find((c) => c.id === id);
  return cam ? cam.name : id;
}

/** Camera ids in the order the track visited them, a repeated visit kept once in a row. */
export function pathOf(trajectory) {
  const out = [];
  for (const leg of trajectory) if (out[out.length - 1] !== leg.camera_id) out.push(leg.camera_id);
  return out;
}

function stateOf(track, ctx) {
  if (track.merged_into) {
    return el("span", { class: "pill pill-warn", id: "track-state" }, "merged into ",
      el("a", { href: ctx.href("track", track.merged_into), text: track.merged_into }));
  }
  return el("span", { class: "pill " + (track.closed ? "" : "pill-ok"), id: "track-state",
    text: track.closed ? "closed" : "open" });
}

// ---- a small modal with any content (checkbox lists do not fit dom.dialog) -------------

function modal({ title, text, body, submit, validate }) {
  return new Promise((resolve) => {
    const error = el("p", { class: "error", hidden: true, role: "alert" });
    const form = el("form", { class: "dialog-card track-dialog" },
      el("h2", { text: title }),
      text ? el("p", { class: "hint", text }) : null,
      ...body,
      error,
      el("div", { class: "dialog-actions" },
        el("button", { type: "button", class: "button button-quiet", onclick: () => close(null) },
          "Cancel"),
        el("button", { type: "submit", class: "button" }, submit)));
    const backdrop = el("div", { class: "dialog-backdrop", role: "dialog", "aria-modal": "true",
      "aria-label": title }, form);
    function onKey(event) {
      if (event.key === "Escape") close(null);
    }
    function close(value) {
      backdrop.remove();
      document.removeEventListener("keydown", onKey);
      resolve(value);
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!form.reportValidity()) return;
      const result = validate(form);
      if (typeof result === "string") {
        error.textContent = result;
        error.hidden = false;
        return;
      }
      close(result);
    });
    document.addEventListener("keydown", onKey);
    document.body.append(backdrop);
    const first = form.querySelector("select, input, textarea");
    if (first) first.focus();
  });
}

function reasonField() {
  return el("label", { class: "field", for: "correction-reason" },
    el("span", { text: "Reason (kept in the audit log)" }),
    el("textarea", { id: "correction-reason", name: "reason", rows: 3, required: true,
      minlength: 5, maxlength: 1000, placeholder: "e.g. same van: plate AB123CD on both" }));
}

async function mergeDialog(track) {
  const recent = recentTracks().filter((t) => t.id !== track.track_id);
  const choose = el("select", { id: "merge-recent", name: "recent" },
    el("option", { value: "", text: recent.length ? "— a track from the last results —"
      : "— no recent results —" }),
    recent.map((t) => el("option", { value: t.id, text: t.id + (t.label ? " · " + t.label : "") })));
  const typed = el("input", { id: "merge-other", name: "other", class: "mono", maxlength: 64,
    autocomplete: "off", spellcheck: "false", placeholder: "or type its id, e.g. g-0123…" });
  return modal({
    title: "Merge with another track",
    text: "Both tracks are one object: the other track's camera visits join this one. "
      + "Later automatic decisions never undo it.",
    body: [
      el("label", { class: "field", for: "merge-recent" }, el("span", { text: "Other track" }),
        choose),
      typed,
      reasonField(),
    ],
    submit: "Merge",
    validate(form) {
      const other = typed.value.trim() || choose.value;
      if (!other) return "Choose the other track, or type its id.";
      if (other === track.track_id) return "A track cannot merge with itself.";
      return { other, reason: form.elements.reason.value.trim() };
    },
  });
}

async function splitDialog(track, cameras) {
  const boxes = track.trajectory.map((leg) => el("label", { class: "check" },
    el("input", { type: "checkbox", name: "tracklet", value: leg.tracklet }),
    el("span", { text: cameraName(cameras, leg.camera_id) }),
    el("code", { text: leg.tracklet }),
    timeEl(leg.first_seen)));
  return modal({
    title: "Split camera visits off",
    text: "The visits you tick are another object than the rest of this track.",
    body: [el("fieldset", { class: "check-list" }, el("legend", { text: "Camera visits" }), boxes),
      reasonField()],
    submit: "Split",
    validate(form) {
      const picked = [...form.querySelectorAll("input[name=tracklet]:checked")].map((i) => i.value);
      if (!picked.length) return "Tick at least one camera visit.";
      if (picked.length === track.trajectory.length) {
        return "Leave at least one visit on this track: tick only those that are another object.";
      }
      return { tracklets: picked, reason: form.elements.reason.value.trim() };
    },
  });
}

// ---- sections --------------------------------------------------------------------------

function timeline(track, cameras, thumbs) {
  const byTracklet = new Map(track.thumbnails.map((t) => [t.tracklet, t]));
  const reads = new Map();
  for (const r of track.plate_reads) {
    if (!reads.has(r.tracklet)) reads.set(r.tracklet, []);
    reads.get(r.tracklet).push(r);
  }
  return el("ol", { class: "visits", id: "visits" }, track.trajectory.map((leg, i) => {
    const pic = el("div", { class: "visit-thumb" }, el("span", { class: "thumb-empty",
      text: byTracklet.has(leg.tracklet) ? "Loading…" : "No crop" }));
    const thumb = byTracklet.get(leg.tracklet);
    if (thumb) thumbs.push({ url: thumb.url, node: pic, alt: leg.tracklet });
    return el("li", { class: "visit", dataset: { tracklet: leg.tracklet } },
      el("span", { class: "visit-step", text: String(i + 1) }),
      pic,
      el("div", { class: "visit-body" },
        el("strong", { class: "visit-camera", text: cameraName(cameras, leg.camera_id) }),
        el("div", { class: "visit-times" }, timeEl(leg.first_seen), el("span", { text: "→" }),
          timeEl(leg.last_seen), el("span", { class: "muted",
            text: "(" + duration(leg.last_seen - leg.first_seen) + ")" })),
        el("code", { class: "muted", text: leg.tracklet }),
        ...(reads.get(leg.tracklet) || []).map((r) => el("div", { class: "visit-plate" },
          el("span", { class: "plate", text: r.text }),
          el("span", { class: "muted", text: Math.round(r.conf * 100) + " %" })))));
  }));
}

function platesTable(track, cameras) {
  if (!track.plate_reads.length) return emptyBox("No plate was read on this track.");
  return el("div", { class: "table-wrap" }, el("table", { class: "data", id: "plate-reads" },
    el("thead", {}, el("tr", {}, ["Plate", "Confidence", "Camera", "Read at"].map((h) =>
      el("th", { text: h })))),
    el("tbody", {}, track.plate_reads.map((r) => el("tr", {},
      el("td", {}, el("span", { class: "plate", text: r.text })),
      el("td", { class: "num" }, el("span", { class: "conf" },
        el("span", { class: "conf-bar", dataset: { conf: r.conf } }),
        el("span", { text: Math.round(r.conf * 100) + " %" }))),
      el("td", { text: cameraName(cameras, r.camera_id) }),
      el("td", {}, timeEl(r.seen_at)))))));
}

function historyTable(track, sent) {
  const rows = track.history.slice().reverse().map((h) => el("tr", {},
    el("td", { class: "num", text: "v" + h.version }),
    el("td", {}, timeEl(h.emitted_at)),
    el("td", { text: HISTORY_NAMES[h.kind] || h.kind }),
    el("td", {}, h.added.length ? el("code", { text: "+ " + h.added.join(", ") }) : null,
      h.removed.length ? el("code", { text: " − " + h.removed.join(", ") }) : null)));
  const pending = sent.map((c) => el("tr", { class: "pending" },
    el("td", { class: "num", text: "sent" }),
    el("td", {}, timeEl(c.decided_at)),
    el("td", { text: c.action === "merge" ? "Merge sent" : "Split sent" }),
    el("td", {}, el("span", { text: (c.action === "merge" ? "with " + c.other_track_id
      : c.tracklets.join(", ")) + " · “" + c.reason + "” · by " + c.user }))));
  return el("div", { class: "table-wrap" }, el("table", { class: "data", id: "history" },
    el("thead", {}, el("tr", {}, ["Version", "When", "What", "Camera visits"].map((h) =>
      el("th", { text: h })))),
    el("tbody", {}, ...pending, ...rows)));
}

// ---- the page --------------------------------------------------------------------------

const sentCorrections = new Map(); // track id -> corrections sent from this tab

export async function render(root, ctx) {
  useStyle("track");
  useStyle("map");
  const id = ctx.param;
  const urls = [];
  let stopped = false;
  const stopCase = onCaseChange(() => { if (!stopped) ctx.navigate("track", id); });
  const cleanup = () => {
    stopped = true;
    stopCase();
    for (const url of urls) URL.revokeObjectURL(url);
  };
  const back = el("a", { class: "back-link", href: lastSearch() || ctx.href("investigate") },
    "← Back to the results");
  if (!id) {
    root.replaceChildren(back, errorBox("No track id in the address."));
    return cleanup;
  }
  const why = caseParams();
  if (!why) {
    root.replaceChildren(back, el("div", { class: "page-head" }, el("h1", { text: "Track " + id })),
      casePrompt());
    return cleanup;
  }
  let track;
  let cameras;
  try {
    [track, cameras] = await Promise.all([
      getJson(trackUrl(id), why),
      getJson("/api/cameras").catch(() => []),
    ]);
  } catch (err) {
    cleanup();
    if (err instanceof ForbiddenError) throw err; // the router says "Not allowed"
    if (ctx.alive()) {
      root.replaceChildren(back, errorBox(err.status === 404 ? "There is no track " + id
        + " (it may have expired under the retention policy)." : err.message,
      () => ctx.navigate("track", id)));
    }
    return undefined;
  }
  if (!ctx.alive()) return cleanup;

  const thumbs = [];
  const sent = sentCorrections.get(id) || [];
  const mergeButton = el("button", { type: "button", class: "button button-quiet", id: "merge" },
    "Merge…");
  const splitButton = el("button", { type: "button", class: "button button-quiet", id: "split",
    disabled: track.trajectory.length < 2,
    title: track.trajectory.length < 2 ? "A track of one camera visit cannot be split" : null },
  "Split…");
  const exportButton = el("button", { type: "button", class: "button", id: "export" },
    "Export case file");
  const notice = el("div", { id: "track-notice", class: "track-notice", role: "status",
    hidden: true });
  const firstCrop = el("div", { class: "track-crop" }, el("span", { class: "thumb-empty",
    text: track.crop ? "Loading…" : "No crop" }));
  if (track.crop) thumbs.push({ url: track.crop, node: firstCrop, alt: "best crop of " + id });
  const known = cameras.filter((c) => track.cameras.includes(c.id));
  const map = cameraMap(cameras, { path: pathOf(track.trajectory), width: 560, height: 360,
    label: (cam) => {
      const n = track.trajectory.filter((leg) => leg.camera_id === cam.id).length;
      return n ? n + (n === 1 ? " visit" : " visits") : "";
    } });

  root.replaceChildren(
    back,
    el("section", { class: "panel track-head" },
      firstCrop,
      el("div", { class: "track-title" },
        el("div", { class: "track-title-row" },
          el("h1", {}, "Track ", el("code", { id: "track-id", text: track.track_id })),
          el("span", { class: "cls cls-" + track.cls, text: track.cls }),
          stateOf(track, ctx)),
        el("dl", { class: "facts" },
          el("dt", { text: "First seen" }), el("dd", {}, timeEl(track.first_seen)),
          el("dt", { text: "Last seen" }), el("dd", {}, timeEl(track.last_seen)),
          el("dt", { text: "Duration" }),
          el("dd", { text: duration(track.last_seen - track.first_seen) }),
          el("dt", { text: "Cameras" }),
          el("dd", { text: track.cameras.map((c) => cameraName(cameras, c)).join(", ") }),
          el("dt", { text: "Version" }), el("dd", { text: "v" + track.version })),
        notice),
      el("div", { class: "track-actions" }, mergeButton, splitButton, exportButton)),
    el("div", { class: "track-grid" },
      el("section", { class: "panel" },
        el("div", { class: "panel-head" }, el("h2", { text: "Trajectory" }),
          el("span", { class: "count", text: track.trajectory.length + " camera visits · "
            + (known.length || track.cameras.length) + " cameras" })),
        el("div", { class: "map-box", id: "track-map" }, map.node)),
      el("section", { class: "panel" },
        el("div", { class: "panel-head" }, el("h2", { text: "Camera visits, in time order" })),
        timeline(track, cameras, thumbs))),
    el("div", { class: "track-grid" },
      el("section", { class: "panel" },
        el("div", { class: "panel-head" }, el("h2", { text: "Plate reads" }),
          el("span", { class: "count", text: String(track.plate_reads.length) })),
        platesTable(track, cameras)),
      el("section", { class: "panel" },
        el("div", { class: "panel-head" }, el("h2", { text: "History" }),
          el("span", { class: "count", text: "merges and splits" })),
        historyTable(track, sent))));
  for (const bar of root.querySelectorAll(".conf-bar")) {
    bar.style.width = Math.round(Number(bar.dataset.conf) * 48) + "px";
  }

  function say(text, kind) {
    notice.textContent = text;
    notice.className = "track-notice notice-" + kind;
    notice.hidden = false;
  }

  async function correct(action, body) {
    try {
      const done = await postJson(trackUrl(id, "/" + action), body);
      sent.unshift(done);
      sentCorrections.set(id, sent);
      const what = action === "merge" ? "Merge with " + body.other_track_id : "Split";
      say(what + " sent. The stream app applies it; the new version of the track then shows "
        + "here (reload). Audited as track." + action + ".", "ok");
      root.querySelector("#history").replaceWith(historyTable(track, sent).firstChild);
    } catch (err) {
      say("The " + action + " was not sent: " + err.message, "error");
    }
  }

  mergeButton.addEventListener("click", async () => {
    const got = await mergeDialog(track);
    if (got) await correct("merge", { other_track_id: got.other, reason: got.reason });
  });
  splitButton.addEventListener("click", async () => {
    const got = await splitDialog(track, cameras);
    if (got) await correct("split", { tracklets: got.tracklets, reason: got.reason });
  });
  exportButton.addEventListener("click", async () => {
    exportButton.disabled = true;
    try {
      const resp = await download(trackUrl(id, "/export"), caseParams() || why,
        "case-track-" + id + ".zip");
      const entry = resp.headers.get("X-Audit-Entry");
      say("Case file exported" + (entry ? " (audit entry #" + entry + ")" : "") + ".", "ok");
      toast("Case file downloaded.", "ok");
    } catch (err) {
      say("The export failed: " + err.message, "error");
    } finally {
      exportButton.disabled = false;
    }
  });

  for (const t of thumbs) {
    objectUrl(t.url, why).then((url) => {
      if (!url) return;
      if (stopped) {
        URL.revokeObjectURL(url);
        return;
      }
      urls.push(url);
      t.node.replaceChildren(el("img", { src: url, alt: t.alt }));
    }).catch(() => {
      if (!stopped) t.node.replaceChildren(el("span", { class: "thumb-empty", text: "No crop" }));
    });
  }
  return cleanup;
}
