// The API client: every call of the web app goes through here.
// Credentials: a bearer token (kept in sessionStorage, sent as a header) or the session
// cookie of a password sign-in (HttpOnly; state-changing calls echo its CSRF token).
// Errors come back as exceptions that carry the API's own "detail" text, so every page
// can show the reader what went wrong: AuthError (401: signed out or expired),
// ForbiddenError (403: the role may not), ApiError (any other status).

const credentials = { token: null, csrf: null };

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}
export class AuthError extends ApiError {}
export class ForbiddenError extends ApiError {}

const listeners = new Set();

/** Called with every AuthError (the session ended while the page was open). */
export function onAuthError(fn) {
  listeners.add(fn);
}

export function setCredentials({ token = null, csrf = null }) {
  credentials.token = token;
  credentials.csrf = csrf;
}

export function hasToken() {
  return Boolean(credentials.token);
}

export function bearer() {
  return credentials.token;
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) for (const v of value) params.append(key, String(v));
    else params.append(key, String(value));
  }
  const text = params.toString();
  if (!text) return path;
  return path + (path.includes("?") ? "&" : "?") + text;
}

async function detailOf(resp) {
  try {
    const body = await resp.json();
    if (body && body.detail) {
      return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    }
  } catch (_err) {
    // not JSON
  }
  return resp.statusText || "HTTP " + resp.status;
}

/** fetch() with the caller's credentials; throws on any non-2xx answer. */
export async function request(path, opts = {}) {
  const method = opts.method || "GET";
  const headers = {};
  if (credentials.token) headers.Authorization = "Bearer " + credentials.token;
  if (method !== "GET" && credentials.csrf) headers["X-CSRF-Token"] = credentials.csrf;
  let body;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  } else if (opts.form !== undefined) {
    body = opts.form; // FormData: the browser sets the multipart boundary
  }
  let resp;
  try {
    resp = await fetch(withQuery(path, opts.query), {
      method,
      headers,
      body,
      cache: "no-store",
      credentials: credentials.token ? "omit" : "same-origin",
      signal: opts.signal,
    });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "the hub cannot be reached (" + (err.message || "network error") + ")");
  }
  if (resp.ok) return resp;
  const detail = await detailOf(resp);
  if (resp.status === 401) {
    const error = new AuthError(401, detail);
    if (!opts.quiet401) for (const fn of listeners) fn(error);
    throw error;
  }
  if (resp.status === 403) throw new ForbiddenError(403, detail);
  if (resp.status === 429) {
    const wait = resp.headers.get("Retry-After");
    throw new ApiError(429, detail + (wait ? " (wait " + wait + " s)" : ""));
  }
  throw new ApiError(resp.status, detail);
}

export async function getJson(path, query, opts = {}) {
  const resp = await request(path, { ...opts, query });
  return resp.status === 204 ? null : resp.json();
}

export async function sendJson(method, path, json, query) {
  const resp = await request(path, { method, json, query });
  return resp.status === 204 ? null : resp.json();
}

export const postJson = (path, json, query) => sendJson("POST", path, json, query);
export const putJson = (path, json, query) => sendJson("PUT", path, json, query);

/** An image (or any file) fetched with credentials, as an object URL the caller revokes. */
export async function objectUrl(path, query) {
  const resp = await request(path, { query });
  if (resp.status === 204) return null;
  return URL.createObjectURL(await resp.blob());
}

/** A file fetched with credentials and handed to the browser as a download. */
export async function download(path, query, fallbackName) {
  const resp = await request(path, { query });
  const disposition = resp.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/.exec(disposition);
  const url = URL.createObjectURL(await resp.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = match ? match[1] : fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return resp;
}

export { withQuery };
