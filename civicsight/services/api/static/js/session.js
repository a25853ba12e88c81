// Who is signed in, and how: a token (from the #token= link or the form) or a password
// (session cookie). Handles the one-time password, the end of a session (expiry or
// revocation: the page says so and asks to sign in again) and signing out.

import { AuthError, getJson, onAuthError, postJson, request, setCredentials } from "./api.js";
import { $, el, toast } from "./dom.js";

const TOKEN_KEY = "civicsight.token";
const CSRF_KEY = "civicsight.csrf";
const WARN_BEFORE_S = 300;

const store = {
  get(key) {
    try { return window.sessionStorage.getItem(key); } catch (_err) { return null; }
  },
  set(key, value) {
    try {
      if (value) window.sessionStorage.setItem(key, value);
      else window.sessionStorage.removeItem(key);
    } catch (_err) {
      // storage disabled: kept in memory for this page only
    }
  },
};

export const session = {
  me: null,
  timers: [],
  onChange: () => {},
};

function tokenFromFragment() {
  const hash = window.location.hash.replace(/^#/, "");
  const query = hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : hash;
  const params = new URLSearchParams(query);
  if (!params.has("token")) return null;
  const token = (params.get("token") || "").trim();
  // the token leaves the address bar (and the history) at once
  window.history.replaceState(null, "", window.location.pathname + "#/");
  return token || null;
}

function clearTimers() {
  for (const t of session.timers) window.clearTimeout(t);
  session.timers = [];
}

function scheduleExpiry(me) {
  clearTimers();
  if (!me.expires_at) return;
  const left = me.expires_at - Date.now() / 1000;
  const banner = $("banner");
  const warnIn = Math.max(0, left - WARN_BEFORE_S);
  session.timers.push(window.setTimeout(() => {
    banner.hidden = false;
    banner.textContent = "Your " + (me.method === "token" ? "access token" : "session")
      + " ends in about " + Math.max(1, Math.round((me.expires_at - Date.now() / 1000) / 60))
      + " minutes. Save your work; you will be asked to sign in again.";
  }, Math.min(warnIn * 1000, 2 ** 31 - 1)));
  session.timers.push(window.setTimeout(() => {
    end("Your " + (me.method === "token" ? "access token has expired" : "session has expired")
      + ". Sign in again.");
  }, Math.min(left * 1000, 2 ** 31 - 1)));
}

async function enter() {
  const me = await getJson("/api/me");
  session.me = me;
  scheduleExpiry(me);
  session.onChange(me);
  return me;
}

/** Sign-in at page load: a token link, a stored token, or a live session cookie. */
export async function resume() {
  const linked = tokenFromFragment();
  const token = linked || store.get(TOKEN_KEY);
  if (token) return useToken(token);
  setCredentials({ csrf: store.get(CSRF_KEY) });
  try {
    return await enter();
  } catch (err) {
    if (err instanceof AuthError) return null;
    throw err;
  }
}

export async function useToken(token) {
  setCredentials({ token });
  try {
    const me = await enter();
    store.set(TOKEN_KEY, token);
    return me;
  } catch (err) {
    setCredentials({});
    store.set(TOKEN_KEY, null);
    if (err instanceof AuthError) {
      throw new Error("That access token was not accepted: it is unknown, expired or revoked.");
    }
    throw err;
  }
}

/** Password sign-in; returns {mustChange} or the signed-in user. */
export async function usePassword(username, password) {
  setCredentials({});
  store.set(TOKEN_KEY, null);
  const resp = await request("/api/auth/login", {
    method: "POST", json: { username, password }, quiet401: true,
  });
  const body = await resp.json();
  setCredentials({ csrf: body.csrf_token });
  store.set(CSRF_KEY, body.csrf_token);
  if (body.must_change_password) return { mustChange: true };
  return enter();
}

export async function changePassword(oldPassword, newPassword) {
  const body = await postJson("/api/auth/password", { old: oldPassword, new: newPassword });
  setCredentials({ csrf: body.csrf_token });
  store.set(CSRF_KEY, body.csrf_token);
  return enter();
}

/** Signs out (a token is revoked by the hub), then shows the sign-in page. */
export async function signOut() {
  try {
    await request("/api/auth/logout", { method: "POST", quiet401: true });
  } catch (_err) {
    // already signed out
  }
  end(null);
}

/** Forget the credentials and show the sign-in page with ``message``. */
export function end(message) {
  clearTimers();
  setCredentials({});
  store.set(TOKEN_KEY, null);
  store.set(CSRF_KEY, null);
  session.me = null;
  $("banner").hidden = true;
  session.onChange(null, message);
}

onAuthError(() => {
  if (session.me) end("Your session has ended (expired, revoked or signed out elsewhere). "
    + "Sign in again.");
});

export function may(permission) {
  return Boolean(session.me && session.me.permissions.includes(permission));
}

export function signInView(message) {
  const error = el("p", { id: "login-error", class: "error", role: "alert", hidden: !message,
    text: message || "" });
  const show = (text) => { error.hidden = false; error.textContent = text; };
  const user = el("input", { id: "user-input", name: "username", type: "text",
    autocomplete: "username", spellcheck: "false", required: true });
  const password = el("input", { id: "password-input", name: "password", type: "password",
    autocomplete: "current-password", required: true });
  const token = el("input", { id: "token-input", name: "token", type: "password",
    spellcheck: "false", placeholder: "cs_…", required: true });
  const passwordForm = el("form", { id: "password-form", class: "login-card" },
    el("h1", { text: "Sign in" }),
    el("label", { for: "user-input", text: "User name" }), user,
    el("label", { for: "password-input", text: "Password" }), password,
    el("button", { type: "submit", id: "password-submit", class: "button" }, "Sign in"));
  const tokenForm = el("form", { id: "login-form", class: "login-card" },
    el("p", { class: "hint", text: "Or paste an access token issued with civicsight token issue." }),
    el("label", { for: "token-input", text: "Access token" }), token,
    el("button", { type: "submit", id: "login-submit", class: "button" }, "Use token"));
  passwordForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const result = await usePassword(user.value.trim(), password.value);
      if (result && result.mustChange) session.onChange(null, null, { mustChange: password.value });
    } catch (err) {
      show(err.status === 401 ? "Wrong user name or password." : err.message);
    }
  });
  tokenForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await useToken(token.value.trim());
    } catch (err) {
      show(err.message);
    }
  });
  const view = el("section", { id: "login", class: "login" }, passwordForm, tokenForm, error);
  window.setTimeout(() => user.focus(), 0);
  return view;
}

export function changePasswordView(oneTime) {
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const old = el("input", { id: "old-input", type: "password", autocomplete: "current-password",
    required: true, value: oneTime || "" });
  const fresh = el("input", { id: "new-input", type: "password", autocomplete: "new-password",
    minlength: 12, required: true });
  const form = el("form", { id: "change-form", class: "login-card" },
    el("h1", { text: "Choose a new password" }),
    el("p", { class: "hint", text: "The one-time password must be replaced before anything else." }),
    el("label", { for: "old-input", text: "One-time password" }), old,
    el("label", { for: "new-input", text: "New password (at least 12 characters)" }), fresh,
    el("button", { type: "submit", id: "change-submit", class: "button" }, "Change password"),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await changePassword(old.value, fresh.value);
      toast("Password changed.", "ok");
    } catch (err) {
      error.hidden = false;
      error.textContent = err.message;
    }
  });
  window.setTimeout(() => fresh.focus(), 0);
  return el("section", { id: "change", class: "login" }, form);
}
