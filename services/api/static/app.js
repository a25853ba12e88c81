// CivicSight control room: live camera tiles and, for roles that may search, the latest
// tracks of a stated case and purpose.
// Plain JS, no build step, no external resources. People sign in with a user name and
// password (an HttpOnly session cookie; the CSRF token is echoed on every POST), or with an
// access token from the URL fragment (#token=..., removed from the address bar at once) or
// the form, kept in sessionStorage only and sent as a bearer header. Images are fetched
// with those credentials and shown through blob: URLs. Data is put into the page with
// textContent only.
"use strict";

(() => {
  const TOKEN_KEY = "civicsight.token";
  const FRAME_MS = 500;
  const TRACKS_MS = 2000;
  const STALE_S = 10;
  const TRACK_ROWS = 25;

  const $ = (id) => document.getElementById(id);

  const state = {
    token: null,
    csrf: null, // set when signed in with a password (session cookie)
    me: null,
    search: null, // {case, purpose} once the investigator has stated them
    generation: 0, // bumped on sign-out: loops of an older generation end
    tiles: [],
    crops: new Map(), // "track_id:version" -> {url} | {pending: Promise}
  };

  class AuthError extends Error {}

  // ---- token handling ---------------------------------------------------------------

  function tokenFromFragment() {
    const hash = window.location.hash.replace(/^#/, "");
    if (!hash) return null;
    const params = new URLSearchParams(hash);
    if (!params.has("token")) return null;
    const token = (params.get("token") || "").trim();
    params.delete("token");
    const rest = params.toString();
    const url = window.location.pathname + window.location.search + (rest ? "#" + rest : "");
    window.history.replaceState(null, "", url);
    return token || null;
  }

  function storedToken() {
    try {
      return window.sessionStorage.getItem(TOKEN_KEY);
    } catch (_err) {
      return null;
    }
  }

  function storeToken(token) {
    try {
      if (token) window.sessionStorage.setItem(TOKEN_KEY, token);
      else window.sessionStorage.removeItem(TOKEN_KEY);
    } catch (_err) {
      // storage disabled: the token lives in memory for this page only
    }
  }

  // ---- API --------------------------------------------------------------------------

  async function api(path, options) {
    const opts = options || {};
    const headers = {};
    if (state.token) headers.Authorization = "Bearer " + state.token;
    if (opts.method && opts.method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
    if (opts.json !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(path, {
      method: opts.method || "GET",
      headers,
      body: opts.json !== undefined ? JSON.stringify(opts.json) : undefined,
      cache: "no-store",
      credentials: state.token ? "omit" : "same-origin",
    });
    if (resp.status === 401 && !opts.allow401) throw new AuthError("not signed in");
    if (!resp.ok) {
      let detail = resp.statusText || String(resp.status);
      try {
        const body = await resp.json();
        if (body && body.detail) detail = String(body.detail);
      } catch (_err) {
        // not JSON
      }
      throw new Error(detail);
    }
    return resp;
  }

  async function apiJson(path, options) {
    return (await api(path, options)).json();
  }

  function searchQuery() {
    const s = state.search;
    return "case=" + encodeURIComponent(s.case) + "&purpose=" + encodeURIComponent(s.purpose);
  }

  function maySearch() {
    return Boolean(state.me && state.me.permissions && state.me.permissions.includes("search"));
  }

  // ---- helpers ----------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function formatTime(ts) {
    const d = new Date(ts * 1000);
    const today = new Date();
    if (d.toDateString() === today.toDateString()) return d.toLocaleTimeString();
    return d.toLocaleString();
  }

  function setStatus(ok, text) {
    const dot = $("status-dot");
    dot.classList.toggle("ok", ok);
    dot.classList.toggle("bad", !ok);
    $("status-text").textContent = text;
  }

  function sleep(ms) {
    return new Promise((resolve) => window.setTimeout(resolve, ms));
  }

  // ---- views ------------------------------------------------------------------------

  function showLogin(message) {
    $("dashboard").hidden = true;
    $("session").hidden = true;
    $("change").hidden = true;
    $("login").hidden = false;
    $("password-error").hidden = true;
    const error = $("login-error");
    error.hidden = !message;
    error.textContent = message || "";
    $("token-input").value = "";
    $("password-input").value = "";
    $("user-input").focus();
  }

  function showChange(message) {
    $("login").hidden = true;
    $("dashboard").hidden = true;
    $("change").hidden = false;
    const error = $("change-error");
    error.hidden = !message;
    error.textContent = message || "";
    $("old-input").focus();
  }

  function showDashboard(me) {
    $("login").hidden = true;
    $("login-error").hidden = true;
    $("session").hidden = false;
    $("dashboard").hidden = false;
    $("whoami").textContent = me.label + " · " + me.role;
    const search = (me.permissions || []).includes("search");
    document.querySelector(".panel-tracks").hidden = !search;
  }

  function clearDashboard() {
    for (const tile of state.tiles) {
      if (tile.url) URL.revokeObjectURL(tile.url);
    }
    state.tiles = [];
    for (const entry of state.crops.values()) {
      if (entry.url) URL.revokeObjectURL(entry.url);
    }
    state.crops.clear();
    $("cameras").replaceChildren();
    $("tracks").tBodies[0].replaceChildren();
    $("camera-count").textContent = "";
    $("tracks-updated").textContent = "";
  }

  function signOut(message) {
    state.generation += 1;
    if (state.csrf) api("/api/auth/logout", { method: "POST", allow401: true }).catch(() => {});
    state.token = null;
    state.csrf = null;
    state.me = null;
    state.search = null;
    storeToken(null);
    clearDashboard();
    showLogin(message);
  }

  async function signIn(token) {
    state.generation += 1;
    clearDashboard();
    state.token = token;
    state.csrf = null;
    let me;
    try {
      me = await apiJson("/api/me");
    } catch (err) {
      state.token = null;
      storeToken(null);
      showLogin(err instanceof AuthError
        ? "That token was not accepted (unknown or revoked)."
        : "Cannot reach the hub: " + err.message);
      return;
    }
    storeToken(token);
    await enter(me);
  }

  async function enter(me) {
    state.me = me;
    state.search = null;
    showDashboard(me);
    setStatus(true, "connected");
    const generation = state.generation;
    const live = me.permissions.includes("live");
    $("cameras").closest(".panel").hidden = !live;
    if (live) await loadCameras(generation);
  }

  async function passwordSignIn(username, password) {
    state.generation += 1;
    clearDashboard();
    state.token = null;
    storeToken(null);
    const resp = await fetch("/api/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }),
      credentials: "same-origin",
      cache: "no-store",
    });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const error = $("password-error");
      error.hidden = false;
      error.textContent = resp.status === 429
        ? "Too many failed sign-ins: wait " + (resp.headers.get("Retry-After") || "a few") + " s."
        : (body.detail || "Sign-in failed.");
      return;
    }
    state.csrf = body.csrf_token;
    if (body.must_change_password) {
      $("old-input").value = password;
      showChange(null);
      return;
    }
    await enter(await apiJson("/api/me"));
  }

  async function changePassword(oldPassword, newPassword) {
    let body;
    try {
      body = await apiJson("/api/auth/password", {
        method: "POST",
        json: { old: oldPassword, new: newPassword },
      });
    } catch (err) {
      showChange(err.message);
      return;
    }
    state.csrf = body.csrf_token;
    $("old-input").value = "";
    $("new-input").value = "";
    await enter(await apiJson("/api/me"));
  }

  function handleError(err, what) {
    if (err instanceof AuthError) {
      signOut("Your session ended: the token was revoked or is no longer valid.");
      return;
    }
    setStatus(false, what + ": " + err.message);
  }

  // ---- cameras ----------------------------------------------------------------------

  function buildTile(cam) {
    const tile = el("article", "camera-tile");
    tile.dataset.cameraId = cam.id;

    const head = el("div", "tile-head");
    head.append(el("span", "camera-name", cam.name));
    const badges = el("span", "badges");
    if (cam.simulated) badges.append(el("span", "badge badge-simulated", "simulated"));
    head.append(badges);

    const view = el("div", "tile-view");
    const img = el("img", "camera-image");
    img.alt = "Live view of " + cam.name;
    img.decoding = "async";
    const overlay = el("div", "tile-overlay", "waiting for frames…");
    view.append(img, overlay);

    const foot = el("div", "tile-foot");
    foot.append(el("span", "camera-id", cam.id));
    const stateText = el("span", "tile-state", "waiting");
    foot.append(stateText, el("span", "camera-fps", cam.fps + " fps"));

    tile.append(head, view, foot);
    return { id: cam.id, tile, img, overlay, stateText, url: null };
  }

  function setTileState(t, kind, text, overlayText) {
    t.tile.classList.toggle("is-live", kind === "live");
    t.tile.classList.toggle("is-stale", kind === "stale");
    t.tile.classList.toggle("is-waiting", kind === "waiting");
    t.tile.classList.toggle("is-error", kind === "error");
    t.stateText.textContent = text;
    t.overlay.hidden = !overlayText;
    t.overlay.textContent = overlayText || "";
  }

  async function loadCameras(generation) {
    let cameras;
    try {
      cameras = await apiJson("/api/cameras");
    } catch (err) {
      handleError(err, "cameras");
      return;
    }
    if (generation !== state.generation) return;
    const grid = $("cameras");
    grid.replaceChildren();
    state.tiles = cameras.map(buildTile);
    for (const t of state.tiles) grid.append(t.tile);
    $("camera-count").textContent = cameras.length + (cameras.length === 1 ? " camera" : " cameras");
    $("cameras-empty").hidden = cameras.length > 0;
    for (const t of state.tiles) tileLoop(t, generation);
  }

  async function refreshTile(t) {
    const resp = await api("/api/cameras/" + encodeURIComponent(t.id) + "/latest.jpg");
    if (resp.status === 204) {
      setTileState(t, "waiting", "waiting", "waiting for frames…");
      return;
    }
    const age = parseFloat(resp.headers.get("X-Frame-Age-S") || "0");
    const blob = await resp.blob();
    const url = URL.createObjectURL(blob);
    const old = t.url;
    t.url = url;
    t.img.src = url;
    try {
      await t.img.decode();
    } catch (_err) {
      // a broken frame: the next one replaces it
    }
    if (old) URL.revokeObjectURL(old);
    if (age > STALE_S) {
      setTileState(t, "stale", "stale · " + Math.round(age) + " s old", "no new frames");
    } else {
      setTileState(t, "live", "live", null);
    }
  }

  async function tileLoop(t, generation) {
    while (generation === state.generation) {
      if (!document.hidden) {
        try {
          await refreshTile(t);
        } catch (err) {
          if (generation !== state.generation) return;
          if (err instanceof AuthError) {
            handleError(err, "camera");
            return;
          }
          setTileState(t, "error", "error", "cannot load: " + err.message);
        }
      }
      await sleep(FRAME_MS);
    }
  }

  // ---- tracks -----------------------------------------------------------------------

  function cropCell(track, generation) {
    const cell = el("td", "col-crop");
    if (!track.has_crop) {
      cell.append(el("span", "no-crop", "—"));
      return cell;
    }
    const key = track.track_id + ":" + track.version;
    const img = el("img", "crop-thumb");
    img.alt = track.cls + " crop";
    cell.append(img);
    let entry = state.crops.get(key);
    if (!entry) {
      entry = { url: null, pending: null };
      entry.pending = api("/api/tracks/" + encodeURIComponent(track.track_id) + "/crop.jpg?"
        + searchQuery())
        .then((resp) => resp.blob())
        .then((blob) => {
          if (generation !== state.generation || state.crops.get(key) !== entry) return null;
          entry.url = URL.createObjectURL(blob);
          return entry.url;
        })
        .catch((err) => {
          if (err instanceof AuthError) handleError(err, "crop");
          state.crops.delete(key);
          return null;
        });
      state.crops.set(key, entry);
    }
    if (entry.url) img.src = entry.url;
    else entry.pending.then((url) => { if (url) img.src = url; });
    return cell;
  }

  function trackRow(track, generation) {
    const row = el("tr");
    row.dataset.trackId = track.track_id;
    row.append(cropCell(track, generation));
    const clsCell = el("td");
    clsCell.append(el("span", "cls cls-" + track.cls, track.cls));
    row.append(clsCell);
    row.append(el("td", "cameras", track.cameras.join(", ")));
    const first = el("td", "time", formatTime(track.first_seen));
    first.title = new Date(track.first_seen * 1000).toISOString();
    const last = el("td", "time", formatTime(track.last_seen));
    last.title = new Date(track.last_seen * 1000).toISOString();
    row.append(first, last);
    const stateCell = el("td");
    stateCell.append(el("span", track.closed ? "pill pill-closed" : "pill pill-open",
      track.closed ? "closed" : "open"));
    row.append(stateCell);
    const idCell = el("td", "track-id");
    idCell.append(el("code", null, track.track_id));
    row.append(idCell);
    return row;
  }

  function renderTracks(page, generation) {
    const rows = page.items.map((t) => trackRow(t, generation));
    $("tracks").tBodies[0].replaceChildren(...rows);
    $("tracks-empty").hidden = rows.length > 0;
    $("tracks-updated").textContent = "updated " + new Date().toLocaleTimeString();
    const keep = new Set(page.items.map((t) => t.track_id + ":" + t.version));
    for (const [key, entry] of state.crops) {
      if (!keep.has(key)) {
        if (entry.url) URL.revokeObjectURL(entry.url);
        state.crops.delete(key);
      }
    }
  }

  async function trackLoop(generation) {
    while (generation === state.generation) {
      if (!document.hidden) {
        try {
          const page = await apiJson("/api/tracks?limit=" + TRACK_ROWS + "&" + searchQuery());
          if (generation !== state.generation) return;
          renderTracks(page, generation);
          setStatus(true, "connected");
        } catch (err) {
          if (generation !== state.generation) return;
          handleError(err, "tracks");
          if (err instanceof AuthError) return;
        }
      }
      await sleep(TRACKS_MS);
    }
  }

  // ---- start ------------------------------------------------------------------------

  function start() {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = $("token-input").value.trim();
      if (token) signIn(token);
    });
    $("password-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const user = $("user-input").value.trim();
      const password = $("password-input").value;
      if (user && password) passwordSignIn(user, password);
    });
    $("change-form").addEventListener("submit", (event) => {
      event.preventDefault();
      changePassword($("old-input").value, $("new-input").value);
    });
    $("case-form").addEventListener("submit", (event) => {
      event.preventDefault();
      if (!maySearch()) return;
      state.search = { case: $("case-input").value.trim(), purpose: $("purpose-input").value.trim() };
      state.generation += 1;
      const generation = state.generation;
      for (const t of state.tiles) tileLoop(t, generation);
      $("case-hint").textContent = "Case " + state.search.case + " · " + state.search.purpose;
      trackLoop(generation);
    });
    $("sign-out").addEventListener("click", () => signOut(null));
    window.addEventListener("hashchange", () => {
      const token = tokenFromFragment();
      if (token) signIn(token);
    });
    const token = tokenFromFragment() || storedToken();
    if (token) signIn(token);
    else showLogin(null);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
