// Placeholder control room: tiles polled from latest.jpg (replaced by the live wall).
import { getJson, objectUrl } from "../api.js";
import { el } from "../dom.js";

export async function render(root, ctx) {
  const cameras = await getJson("/api/cameras");
  const grid = el("div", { class: "camera-grid" });
  root.replaceChildren(el("div", { class: "page-head" }, el("h1", { text: "Control room" })), grid);
  const tiles = cameras.map((c) => {
    const img = el("img", { class: "camera-image", alt: c.name });
    grid.append(el("article", { class: "camera-tile", dataset: { cameraId: c.id } },
      el("div", { class: "camera-name", text: c.name }), img));
    return { c, img };
  });
  let stop = false;
  (async () => {
    while (!stop && ctx.alive()) {
      for (const t of tiles) {
        const url = await objectUrl("/api/cameras/" + t.c.id + "/latest.jpg").catch(() => null);
        if (url) {
          const old = t.img.src;
          t.img.src = url;
          if (old) URL.revokeObjectURL(old);
        }
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return () => { stop = true; };
}
