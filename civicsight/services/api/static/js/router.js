// Hash routes (#/live, #/track/g-0123?tab=x): which page shows, and whether the role may
// open it. A page the role may not open says so in words; the API refuses it too (403).

import { ForbiddenError } from "./api.js";
import { el, errorBox, loading } from "./dom.js";
import { PAGES } from "./pages/index.js";

let current = { cleanup: null, token: 0 };

export function parseHash(hash = window.location.hash) {
  const text = hash.replace(/^#\/?/, "");
  const [path, query = ""] = text.split("?");
  const [name = "", ...rest] = path.split("/");
  return { name, param: rest.map(decodeURIComponent).join("/"), query: new URLSearchParams(query) };
}

export function href(name, param, query) {
  let out = "#/" + name + (param ? "/" + encodeURIComponent(param) : "");
  if (query) {
    const q = new URLSearchParams(query).toString();
    if (q) out += "?" + q;
  }
  return out;
}

export function navigate(name, param, query) {
  const target = href(name, param, query);
  if (window.location.hash === target) showRoute();
  else window.location.hash = target;
}

export function allowedPages(me) {
  return PAGES.filter((p) => p.permission === null || me.permissions.includes(p.permission));
}

export function homePage(me) {
  const first = allowedPages(me).find((p) => p.nav);
  return first ? first.name : null;
}

export function renderNav(me) {
  const nav = document.getElementById("nav");
  const { name } = parseHash();
  nav.replaceChildren(...allowedPages(me).filter((p) => p.nav).map((p) =>
    el("a", { href: href(p.name), class: "nav-link" + (p.name === name ? " active" : ""),
      "aria-current": p.name === name ? "page" : null, dataset: { page: p.name } }, p.title)));
  nav.hidden = false;
}

function notAllowed(root, page, me) {
  root.replaceChildren(el("section", { class: "panel not-allowed", role: "alert" },
    el("h1", { text: "Not allowed" }),
    el("p", { text: `Your role (${me.role}) may not open ${page.title}. `
      + "Ask an administrator if you need it for your work." })));
}

/** Shows the page the address names (or the role's first page). */
export async function showRoute(ctxBase) {
  if (ctxBase) current.ctxBase = ctxBase;
  const base = current.ctxBase;
  if (!base || !base.me) return;
  const root = document.getElementById("view");
  let route = parseHash();
  const me = base.me;
  if (!route.name) {
    const home = homePage(me);
    if (home) {
      // no hashchange round trip: a click during it would be overtaken by the redirect
      window.history.replaceState(null, "", href(home));
      route = parseHash();
    }
  }
  if (!route.name) {
    root.replaceChildren(el("section", { class: "panel" },
      el("h1", { text: "Nothing to show" }),
      el("p", { text: `Your role (${me.role}) has no workspace in this app.` })));
    return;
  }
  if (current.cleanup) {
    try { current.cleanup(); } catch (_err) { /* a page's own problem */ }
    current.cleanup = null;
  }
  const token = ++current.token;
  renderNav(me);
  const page = PAGES.find((p) => p.name === route.name);
  if (!page) {
    root.replaceChildren(el("section", { class: "panel" }, el("h1", { text: "Not found" }),
      el("p", { text: "There is no page called " + route.name + "." })));
    return;
  }
  document.title = page.title + " · CivicSight";
  document.getElementById("casebar").hidden = !(page.casebar && me.permissions.includes("search"));
  if (page.permission && !me.permissions.includes(page.permission)) {
    notAllowed(root, page, me);
    return;
  }
  // each showing of a page gets its own element: a page still loading when the reader
  // moved on writes into a detached element, never over the page that replaced it
  const mount = el("div", { class: "page-mount" }, loading());
  root.replaceChildren(mount);
  root.dataset.page = page.name;
  const ctx = { ...base, param: route.param, query: route.query, navigate, href,
    alive: () => token === current.token };
  try {
    const module = await page.load();
    if (token !== current.token) return;
    const cleanup = await module.render(mount, ctx);
    if (token !== current.token) {
      if (typeof cleanup === "function") cleanup();
      return;
    }
    current.cleanup = typeof cleanup === "function" ? cleanup : null;
  } catch (err) {
    if (token !== current.token) return;
    if (err instanceof ForbiddenError) notAllowed(mount, page, me);
    else mount.replaceChildren(errorBox(err.message || String(err), () => showRoute()));
  }
}

export function stopPage() {
  current.token += 1;
  if (current.cleanup) {
    try { current.cleanup(); } catch (_err) { /* ignore */ }
    current.cleanup = null;
  }
}
