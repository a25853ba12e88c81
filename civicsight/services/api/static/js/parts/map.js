// A schematic camera map drawn from camera positions (metres east / north on the city's
// local plane), as SVG: no map tiles, nothing fetched. Used by the control room (camera
// states, events) and the track page (a trajectory across cameras in time order).

import { svg } from "../dom.js";

const PAD = 46;

function project(cameras, width, height) {
  const xs = cameras.map((c) => c.position.x_m);
  const ys = cameras.map((c) => c.position.y_m);
  const minX = Math.min(...xs);
  const maxX = Math.max(...xs);
  const minY = Math.min(...ys);
  const maxY = Math.max(...ys);
  const span = Math.max(maxX - minX, maxY - minY, 1);
  const scale = Math.min(width - 2 * PAD, height - 2 * PAD) / span;
  const offX = (width - (maxX - minX) * scale) / 2;
  const offY = (height - (maxY - minY) * scale) / 2;
  const place = new Map();
  cameras.forEach((c, i) => {
    let x = offX + (c.position.x_m - minX) * scale;
    let y = height - (offY + (c.position.y_m - minY) * scale); // north is up
    // cameras at one spot (positions not set yet) are spread on a small circle
    const twins = cameras.filter((o) => o.position.x_m === c.position.x_m
      && o.position.y_m === c.position.y_m);
    if (twins.length > 1) {
      const k = twins.indexOf(c);
      const angle = (2 * Math.PI * k) / twins.length;
      x += Math.cos(angle) * 34;
      y += Math.sin(angle) * 34;
    }
    place.set(c.id, { x, y, i });
  });
  return { place, scale };
}

function scaleBar(scale, width, height) {
  const niceM = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
  const target = (width - 2 * PAD) / 4 / scale;
  const metres = niceM.find((m) => m >= target) || niceM[niceM.length - 1];
  const px = metres * scale;
  const x = 12;
  const y = height - 12;
  return svg("g", { class: "map-scale" },
    svg("line", { x1: x, y1: y, x2: x + px, y2: y }),
    svg("text", { x: x + px / 2, y: y - 5, "text-anchor": "middle",
      text: metres >= 1000 ? metres / 1000 + " km" : metres + " m" }));
}

/**
 * The map. Options: width, height; onSelect(cameraId); path: camera ids in time order (a
 * trajectory, drawn as numbered steps); label(camera) -> text under the marker.
 * Returns {node, setState(cameraId, "live"|"stale"|"offline"|"waiting"), flash(cameraId)}.
 */
export function cameraMap(cameras, opts = {}) {
  const width = opts.width || 520;
  const height = opts.height || 340;
  const root = svg("svg", { class: "camera-map", viewBox: `0 0 ${width} ${height}`,
    role: "img", "aria-label": "Camera map" });
  if (!cameras.length) {
    root.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle",
      class: "map-empty", text: "No cameras" }));
    return { node: root, setState() {}, flash() {} };
  }
  const { place, scale } = project(cameras, width, height);
  // markers closer than a label's width: names show on hover or focus only
  const points = [...place.values()];
  let closest = Infinity;
  for (let a = 0; a < points.length; a++) {
    for (let b = a + 1; b < points.length; b++) {
      closest = Math.min(closest, Math.hypot(points[a].x - points[b].x, points[a].y - points[b].y));
    }
  }
  if (closest < 90) root.classList.add("dense");
  root.append(svg("rect", { class: "map-bg", x: 0, y: 0, width, height, rx: 8 }));
  root.append(svg("text", { class: "map-north", x: width - 16, y: 22, "text-anchor": "middle",
    text: "N ↑" }));
  root.append(scaleBar(scale, width, height));
  const path = (opts.path || []).filter((id) => place.has(id));
  if (path.length) {
    const points = path.map((id) => place.get(id));
    root.append(svg("polyline", { class: "map-path",
      points: points.map((p) => `${p.x},${p.y}`).join(" ") }));
    points.forEach((p, k) => {
      if (k === 0) return;
      const a = points[k - 1];
      const mx = (a.x + p.x) / 2;
      const my = (a.y + p.y) / 2;
      root.append(svg("text", { class: "map-step", x: mx, y: my - 6, "text-anchor": "middle",
        text: String(k) }));
    });
  }
  const markers = new Map();
  for (const cam of cameras) {
    const p = place.get(cam.id);
    const order = path.indexOf(cam.id);
    const group = svg("g", { class: "map-camera" + (order >= 0 ? " on-path" : ""),
      transform: `translate(${p.x},${p.y})`, tabindex: opts.onSelect ? 0 : null,
      "data-camera-id": cam.id, role: opts.onSelect ? "button" : null,
      "aria-label": cam.name });
    const dot = svg("circle", { class: "map-dot", r: 9 });
    const ring = svg("circle", { class: "map-ring", r: 15 });
    group.append(svg("title", { text: cam.name }), ring, dot,
      svg("text", { class: "map-label", y: 28, "text-anchor": "middle", text: cam.name }));
    if (opts.label) {
      const extra = opts.label(cam);
      if (extra) group.append(svg("text", { class: "map-sub", y: 42, "text-anchor": "middle",
        text: extra }));
    }
    if (opts.onSelect) {
      group.addEventListener("click", () => opts.onSelect(cam.id));
      group.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") opts.onSelect(cam.id);
      });
    }
    root.append(group);
    markers.set(cam.id, group);
  }
  return {
    node: root,
    setState(cameraId, state) {
      const g = markers.get(cameraId);
      if (!g) return;
      for (const s of ["live", "stale", "offline", "waiting"]) g.classList.toggle("is-" + s, s === state);
    },
    flash(cameraId) {
      const g = markers.get(cameraId);
      if (!g) return;
      g.classList.remove("flash");
      void g.getBoundingClientRect();
      g.classList.add("flash");
    },
  };
}
