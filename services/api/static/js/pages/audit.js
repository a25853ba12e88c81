// Placeholder: this workspace is being built.
import { el } from "../dom.js";

export async function render(root) {
  root.replaceChildren(el("section", { class: "panel" }, el("h1", { text: "audit" }),
    el("p", { class: "hint", text: "This workspace is not built yet." })));
}
