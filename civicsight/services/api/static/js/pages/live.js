// The control room: the camera wall (every camera in a grid that fits the screen, each tile
// at the camera's rate, its state and the time since its last frame, click to enlarge),
// a schematic camera map, the live event feed (new tracks, watchlist alerts, rule hits)
// and service health. Frames, events and health arrive over one WebSocket.

import { getJson } from "../api.js";
import { ago, el, formatTime, useStyle } from "../dom.js";
import { cameraMap } from "../parts/map.js";
import { LiveSocket } from "../parts/live_socket.js";
import { end } from "../session.js";

const WALL_FPS = 2; // a tile of a wall of more than four cameras
const FEED_ROWS = 80;
const STATE_TEXT = { live: "live", stale: "stale", offline: "offline", waiting: "waiting" };

function wallFps(cam, count) {
  return count <= 4 ? cam.fps : Math.min(cam.fps, WALL_FPS);
}

const GAP = 10;
const CAPTION = 31;

/** The columns and tile width that make the tiles (16:9 plus a caption) as large as the
 *  box allows, with every tile on screen. */
export function bestLayout(count, width, height) {
  let best = { cols: 1, tileW: 0 };
  for (let cols = 1; cols <= Math.max(1, count); cols++) {
    const rows = Math.ceil(count / cols);
    const tileW = Math.min((width - (cols - 1) * GAP) / cols,
      ((height - (rows - 1) * GAP) / rows - CAPTION) * (16 / 9));
    if (tileW > best.tileW + 1) best = { cols, tileW };
  }
  return best;
}

function buildTile(cam, onOpen) {
  const img = el("img", { class: "camera-image", alt: "Live view of " + cam.name,
    decoding: "async" });
  const overlay = el("div", { class: "tile-overlay", text: "waiting for frames…" });
  const stateText = el("span", { class: "tile-state", text: "waiting" });
  const tile = el("article", { class: "camera-tile is-waiting", dataset: { cameraId: cam.id },
    tabindex: 0, role: "button", "aria-label": cam.name + ": enlarge" },
  el("div", { class: "tile-view" }, img, overlay),
  el("div", { class: "tile-caption" },
    el("span", { class: "camera-name", text: cam.name }),
    cam.simulated ? el("span", { class: "badge badge-simulated", text: "simulated" }) : null,
    stateText));
  tile.addEventListener("click", () => onOpen(cam.id));
  tile.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      onOpen(cam.id);
    }
  });
  return { cam, tile, img, overlay, stateText, url: null, capturedAt: null, seq: null,
    serverState: "waiting" };
}

function feedRow(item, cameraName, ctx) {
  const kind = { track: "track", rule_hit: "rule", alert: "alert" }[item.type] || item.type;
  const link = item.type === "alert" && item.alert_id
    ? el("a", { href: ctx.href("alerts"), text: "review" })
    : item.track_id ? el("a", { href: ctx.href("track", item.track_id), text: "open" }) : null;
  return el("li", { class: "feed-item feed-" + item.type, dataset: { type: item.type } },
    el("span", { class: "feed-kind", text: kind }),
    el("span", { class: "feed-text" },
      el("strong", { text: cameraName(item.camera_id) }), " · ", item.text),
    el("time", { class: "feed-time", text: formatTime(item.at) }),
    link);
}

export async function render(root, ctx) {
  useStyle("live");
  useStyle("map");
  const cameras = await getJson("/api/cameras");
  const names = new Map(cameras.map((c) => [c.id, c.name]));
  const cameraName = (id) => names.get(id) || id || "hub";

  const wall = el("div", { class: "camera-wall", id: "camera-wall" });
  const status = el("span", { class: "wall-status", id: "wall-status", text: "connecting…" });
  const feedList = el("ol", { class: "feed-list", id: "feed" });
  const feedEmpty = el("p", { class: "empty", id: "feed-empty",
    text: "Nothing yet: new tracks, rule hits and alerts appear here as they happen." });
  const healthList = el("ul", { class: "health-list", id: "health" });
  const map = cameraMap(cameras, { width: 340, height: 220, onSelect: (id) => open(id) });
  const side = el("aside", { class: "wall-side" },
    el("section", { class: "panel side-map" },
      el("div", { class: "panel-head" }, el("h2", { text: "Camera map" })), map.node),
    el("section", { class: "panel side-health" },
      el("div", { class: "panel-head" }, el("h2", { text: "Services" })), healthList),
    el("section", { class: "panel side-feed" },
      el("div", { class: "panel-head" }, el("h2", { text: "Events" }),
        el("span", { class: "count", id: "feed-count" })),
      feedEmpty, feedList));
  const head = el("div", { class: "wall-head" },
    el("h1", { text: "Control room" }),
    el("span", { class: "count", text: cameras.length + (cameras.length === 1 ? " camera" : " cameras") }),
    status);
  root.replaceChildren(el("div", { class: "control-room" },
    el("div", { class: "wall-main" }, head,
      cameras.length ? wall : el("p", { class: "empty", text: "No cameras configured." })),
    side));

  const tiles = new Map();
  let enlarged = null;
  for (const cam of cameras) {
    const t = buildTile(cam, (id) => open(id));
    tiles.set(cam.id, t);
    wall.append(t.tile);
  }

  function layout() {
    const box = wall.getBoundingClientRect();
    const height = Math.max(240, window.innerHeight - box.top - 14);
    const { cols, tileW } = bestLayout(cameras.length, box.width, height);
    wall.style.gridTemplateColumns = `repeat(${cols}, ${Math.max(160, Math.floor(tileW))}px)`;
  }
  layout();
  window.addEventListener("resize", layout);

  function watchAll() {
    const want = {};
    for (const cam of cameras) want[cam.id] = wallFps(cam, cameras.length);
    if (enlarged) want[enlarged.id] = enlarged.cam.fps;
    socket.watch(want);
  }

  // ---- enlarged view ----
  const bigImg = el("img", { class: "enlarged-image", alt: "" });
  const bigTitle = el("h2", { class: "enlarged-title" });
  const bigState = el("span", { class: "tile-state" });
  const bigClose = el("button", { type: "button", class: "button button-quiet",
    onclick: () => close() }, "Close");
  const backdrop = el("div", { class: "enlarged", id: "enlarged", hidden: true, role: "dialog",
    "aria-modal": "true" },
  el("div", { class: "enlarged-card" },
    el("div", { class: "enlarged-head" }, bigTitle, bigState, bigClose), bigImg));
  backdrop.addEventListener("click", (event) => { if (event.target === backdrop) close(); });
  root.append(backdrop);
  function onKey(event) { if (event.key === "Escape" && enlarged) close(); }
  document.addEventListener("keydown", onKey);

  function open(id) {
    const t = tiles.get(id);
    if (!t) return;
    enlarged = { id, cam: t.cam };
    bigTitle.textContent = t.cam.name;
    bigImg.alt = "Live view of " + t.cam.name;
    if (t.url) bigImg.src = t.url;
    backdrop.hidden = false;
    bigClose.focus();
    watchAll();
  }
  function close() {
    enlarged = null;
    backdrop.hidden = true;
    watchAll();
  }

  // ---- tile state ----
  function showState(t) {
    const age = t.capturedAt ? Date.now() / 1000 - t.capturedAt : null;
    let state = t.serverState;
    if (t.capturedAt && state !== "offline") state = age < 5 ? "live" : age < 30 ? "stale" : "offline";
    for (const s of Object.keys(STATE_TEXT)) t.tile.classList.toggle("is-" + s, s === state);
    const since = age === null ? "" : " · " + ago(age);
    t.stateText.textContent = STATE_TEXT[state] + (state === "live" ? "" : since);
    t.overlay.hidden = state === "live" || state === "stale";
    t.overlay.textContent = state === "waiting" ? "waiting for frames…"
      : "offline: no frame " + (age === null ? "yet" : "for " + ago(age).replace(" ago", ""));
    map.setState(t.cam.id, state);
    if (enlarged && enlarged.id === t.cam.id) bigState.textContent = t.stateText.textContent;
  }
  const stateTimer = window.setInterval(() => tiles.forEach(showState), 1000);

  // ---- feed and health ----
  let feedCount = 0;
  function onFeed(msg) {
    for (const item of msg.items) {
      feedList.prepend(feedRow(item, cameraName, ctx));
      if (item.camera_id) map.flash(item.camera_id);
      feedCount += 1;
    }
    while (feedList.children.length > FEED_ROWS) feedList.lastElementChild.remove();
    feedEmpty.hidden = feedCount > 0;
    document.getElementById("feed-count").textContent = feedCount ? feedCount + " since opened" : "";
  }
  function onHealth(msg) {
    for (const c of msg.cameras) {
      const t = tiles.get(c.camera_id);
      if (t) t.serverState = c.state;
    }
    const rows = msg.services.map((s) => el("li", { class: "health-item is-" + s.state,
      dataset: { service: s.service } },
    el("span", { class: "health-dot" }),
    el("span", { class: "health-name", text: s.service }),
    el("span", { class: "health-detail", text: s.state === "ok" ? "ok"
      : s.state + " · " + ago(s.age_s) }),
    el("span", { class: "health-lag", title: "messages waiting",
      text: Object.values(s.lag).reduce((a, b) => a + b, 0) + " waiting" })));
    healthList.replaceChildren(...(rows.length ? rows
      : [el("li", { class: "empty", text: "No service has reported yet." })]));
  }

  const socket = new LiveSocket({
    onFrame(header, blob) {
      const t = tiles.get(header.camera_id);
      if (!t) return;
      const url = URL.createObjectURL(blob);
      const old = t.url;
      t.url = url;
      t.img.src = url;
      t.tile.dataset.seq = header.seq;
      t.tile.dataset.capturedAt = header.captured_at;
      t.capturedAt = header.captured_at;
      if (enlarged && enlarged.id === header.camera_id) bigImg.src = url;
      if (old) window.setTimeout(() => URL.revokeObjectURL(old), 1000);
      showState(t);
    },
    onFeed,
    onHealth,
    onState(text, ok) {
      status.textContent = text;
      status.classList.toggle("bad", !ok);
    },
    onEnd(code, reason) {
      if (code === 4401) end("Your session has ended (" + reason + "). Sign in again.");
      else status.textContent = reason || "not allowed";
    },
  });
  watchAll();

  return () => {
    socket.close();
    window.clearInterval(stateTimer);
    window.removeEventListener("resize", layout);
    document.removeEventListener("keydown", onKey);
    for (const t of tiles.values()) if (t.url) URL.revokeObjectURL(t.url);
  };
}
