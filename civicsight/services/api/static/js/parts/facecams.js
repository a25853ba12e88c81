// The cameras that match faces against the watchlist, with the purpose and legal basis
// their camera files state (GET /api/faces/cameras). Faces are off by default: a camera
// is listed here only if its file turns them on. Shown beside the alert queue and the
// watchlist, so whoever reviews or enrols sees where faces are matched and why.

import { getJson } from "../api.js";
import { el, errorBox, useStyle } from "../dom.js";

function cameraItem(cam) {
  return el("li", { class: "facecam", dataset: { cameraId: cam.camera_id } },
    el("div", { class: "facecam-name" },
      el("span", { class: "facecam-dot", "aria-hidden": "true" }),
      el("strong", { text: cam.name }),
      el("code", { class: "facecam-id", text: cam.camera_id })),
    el("dl", { class: "facecam-facts" },
      el("dt", { text: "Purpose" }), el("dd", { text: cam.purpose }),
      el("dt", { text: "Legal basis" }), el("dd", { class: "facecam-basis", text: cam.legal_basis })));
}

/** A panel that fills itself; returns {node, refresh()}. */
export function faceCamerasPanel() {
  useStyle("facecams");
  const body = el("div", { class: "facecams-body" }, el("p", { class: "loading", text: "Loading…" }));
  const node = el("section", { class: "panel facecams", id: "face-cameras",
    "aria-labelledby": "facecams-title" },
    el("div", { class: "panel-head" }, el("h2", { id: "facecams-title", text: "Face matching" })),
    body);

  async function refresh() {
    let data;
    try {
      data = await getJson("/api/faces/cameras");
    } catch (err) {
      body.replaceChildren(errorBox(err.message, refresh));
      return;
    }
    const parts = [];
    if (data.problem) {
      parts.push(el("p", { class: "facecams-problem", role: "alert", text: data.problem }));
    }
    if (data.cameras.length) {
      parts.push(el("p", { class: "hint", text: data.cameras.length === 1
        ? "Faces are matched against the watchlist on this camera only:"
        : `Faces are matched against the watchlist on these ${data.cameras.length} cameras only:` }));
      parts.push(el("ul", { class: "facecam-list" }, data.cameras.map(cameraItem)));
    } else if (!data.problem) {
      parts.push(el("p", { class: "facecams-none", text: "No camera matches faces." }));
    }
    parts.push(el("p", { class: "facecams-off" },
      el("span", { class: "pill", text: "off" }), " ",
      data.faces_off === 1 ? "1 other camera: faces off (the default)."
        : `${data.faces_off} other cameras: faces off (the default).`));
    parts.push(el("p", { class: "hint facecams-note", text: "A face is compared only with the "
      + "watchlist; a face that matches nothing is dropped at once and never stored." }));
    body.replaceChildren(...parts);
  }

  refresh();
  return { node, refresh };
}
