// The workspaces of the web app, in the order the navigation shows them. Each page is an
// ES module with `export async function render(root, ctx)` that fills `root` and may
// return a cleanup function (called when the reader leaves the page). The permission is
// checked here for the page and again by the API for every call it makes.
//
//   name        the route: #/name or #/name/<param>
//   title       shown in the navigation and as the page title
//   permission  what the role needs (see /api/me permissions); null: any signed-in role
//   nav         listed in the navigation
//   casebar     the page searches: the case bar shows above it
//   load        the module

export const PAGES = [
  { name: "live", title: "Control room", permission: "live", nav: true,
    load: () => import("./live.js") },
  { name: "investigate", title: "Investigation", permission: "search", nav: true, casebar: true,
    load: () => import("./investigate.js") },
  { name: "track", title: "Track", permission: "search", nav: false, casebar: true,
    load: () => import("./track.js") },
  { name: "alerts", title: "Alerts", permission: "alerts", nav: true,
    load: () => import("./alerts.js") },
  { name: "watchlist", title: "Watchlist", permission: "watchlist", nav: true, casebar: true,
    load: () => import("./watchlist.js") },
  { name: "traffic", title: "Traffic", permission: "aggregates", nav: true,
    load: () => import("./traffic.js") },
  { name: "rules", title: "Rules", permission: "manage", nav: true,
    load: () => import("./rules.js") },
  { name: "audit", title: "Audit", permission: "audit", nav: true,
    load: () => import("./audit.js") },
  { name: "admin", title: "Administration", permission: "manage", nav: true,
    load: () => import("./admin.js") },
];
