// Small inline-SVG charts for the traffic page: stacked bars per 15-minute bin, and
// p15-p85 ranges with the median per bin. No library: the SVG is built with dom.js's
// svg() helper and every label enters as text. In every chart a withheld value is a
// hatched mark (with a tooltip saying why) and a bin whose camera was down is a grey
// band across the whole height: a gap, never a zero.

import { svg } from "../dom.js";

export const CLASS_COLOURS = {
  person: "#ffc850", bicycle: "#50c8ff", car: "#78e678", motorcycle: "#e678e6",
  bus: "#ff8c50", truck: "#508cff",
};
const W = 1200;
const PAD = { left: 46, right: 12, top: 24, bottom: 26 };
let patterns = 0;

function niceMax(value) {
  if (!(value > 0)) return 5;
  const step = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= value) return m * step;
  return 10 * step;
}

export function hh(ts) {
  const d = new Date(ts * 1000);
  return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
}

/** The frame every chart shares: axes, grid, time ticks, camera-down bands, hatch. */
function frame({ bins, height, max, unit, down, downText }) {
  const h = height;
  const plotW = W - PAD.left - PAD.right;
  const plotH = h - PAD.top - PAD.bottom;
  const step = plotW / Math.max(bins.length, 1);
  const x = (i) => PAD.left + i * step;
  const y = (v) => PAD.top + plotH - (v / max) * plotH;
  const id = "hatch-" + (++patterns);
  const root = svg("svg", { viewBox: `0 0 ${W} ${h}`, class: "chart", role: "img" },
    svg("defs", {}, svg("pattern", { id, width: 6, height: 6, patternUnits: "userSpaceOnUse",
      patternTransform: "rotate(45)" },
    svg("rect", { width: 6, height: 6, class: "hatch-bg" }),
    svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line" }))));
  for (const frac of [0, 0.25, 0.5, 0.75, 1]) {
    const v = max * frac;
    root.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "grid" }),
      svg("text", { x: PAD.left - 6, y: y(v) + 4, class: "tick", "text-anchor": "end",
        text: Number.isInteger(v) ? String(v) : v.toFixed(1) }));
  }
  if (unit) {
    root.append(svg("text", { x: PAD.left, y: 12, class: "tick unit", text: unit }));
  }
  const every = Math.max(1, Math.round(bins.length / 8));
  bins.forEach((b, i) => {
    if (i % every === 0) {
      root.append(svg("text", { x: x(i), y: h - 8, class: "tick", text: hh(b) }));
    }
    if (down[i]) {
      root.append(svg("rect", { x: x(i), y: PAD.top, width: step, height: plotH, class: "down" },
        svg("title", { text: `${hh(b)}: ${downText}` })));
    }
  });
  return { root, x, y, step, id, plotH };
}

/** A withheld value: a hatched mark at the top of the bar (its height is unknown). */
function withheldMark(f, i, top, text) {
  const markH = Math.min(9, f.plotH * 0.08);
  return svg("rect", { x: f.x(i) + f.step * 0.12, y: top - markH, width: f.step * 0.76,
    height: markH, fill: `url(#${f.id})`, class: "withheld-mark" }, svg("title", { text }));
}

/**
 * Stacked bars: series [{name, colour, values: [number|null]}] over bins; null is a
 * withheld value. down[i]: the bin's camera was down.
 */
export function stackedBars({ bins, series, down, withheldText, downText, unit = "",
  height = 170 }) {
  const totals = bins.map((_, i) => series.reduce((s, ser) => s + (ser.values[i] || 0), 0));
  const max = niceMax(Math.max(...totals, 0));
  const f = frame({ bins, height, max, unit, down, downText });
  bins.forEach((b, i) => {
    if (down[i]) return;
    let top = f.y(0);
    let acc = 0;
    const hidden = [];
    for (const ser of series) {
      const v = ser.values[i];
      if (v === null) hidden.push(ser.name);
      if (!v) continue;
      acc += v;
      const y = f.y(acc);
      f.root.append(svg("rect", { x: f.x(i) + f.step * 0.12, y, width: f.step * 0.76,
        height: Math.max(top - y, 0.5), fill: ser.colour },
      svg("title", { text: `${hh(b)} ${ser.name}: ${v}` })));
      top = y;
    }
    if (hidden.length) {
      f.root.append(withheldMark(f, i, top, `${hh(b)} ${hidden.join(", ")}: ${withheldText}`));
    }
  });
  return f.root;
}

/**
 * Ranges per bin: low..high as a bar with a tick at mid (p15, p50, p85). withheld[i]:
 * the bin's percentiles are withheld; down[i]: its camera was down.
 */
export function ranges({ bins, low, mid, high, withheld, down, withheldText, downText,
  unit = "", height = 150 }) {
  const max = niceMax(Math.max(...high.filter((v) => v !== null), 0) * 1.1);
  const f = frame({ bins, height, max, unit, down, downText });
  bins.forEach((b, i) => {
    if (down[i]) return;
    if (withheld[i]) {
      f.root.append(withheldMark(f, i, f.y(0), `${hh(b)}: ${withheldText}`));
      return;
    }
    if (mid[i] === null) return;
    const cx = f.x(i) + f.step / 2;
    if (low[i] !== null && high[i] !== null) {
      f.root.append(svg("line", { x1: cx, x2: cx, y1: f.y(low[i]), y2: f.y(high[i]),
        class: "range" }, svg("title", { text: `${hh(b)}: ${low[i]} to ${high[i]} ${unit}` })));
    }
    f.root.append(svg("circle", { cx, cy: f.y(mid[i]), r: Math.min(3.2, f.step / 2.5),
      class: "mid" }, svg("title", { text: `${hh(b)}: median ${mid[i]} ${unit}` })));
  });
  return f.root;
}
