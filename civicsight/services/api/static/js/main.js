// Boot: sign-in, then the role's workspaces. See pages/index.js for the list of pages.

import { mountCaseBar, clearCase } from "./casebar.js";
import { $, el, errorBox } from "./dom.js";
import { renderNav, showRoute, stopPage } from "./router.js";
import { changePasswordView, resume, session, signInView, signOut } from "./session.js";

const ROLE_NAMES = {
  viewer: "Viewer", operator: "Operator", investigator: "Investigator",
  traffic_analyst: "Traffic analyst", auditor: "Auditor", admin: "Administrator",
};

function signedOut(message, extra) {
  stopPage();
  clearCase();
  $("nav").hidden = true;
  $("session").hidden = true;
  $("casebar").hidden = true;
  const view = $("view");
  delete view.dataset.page;
  document.title = "Sign in · CivicSight";
  if (extra && extra.mustChange !== undefined) {
    view.replaceChildren(changePasswordView(extra.mustChange));
    return;
  }
  view.replaceChildren(signInView(message));
}

function signedIn(me) {
  $("session").hidden = false;
  $("whoami").textContent = me.label;
  $("role").textContent = ROLE_NAMES[me.role] || me.role;
  $("role").dataset.role = me.role;
  $("status-dot").className = "status-dot ok";
  $("status-text").textContent = "";
  mountCaseBar(me);
  renderNav(me);
  showRoute({ me });
}

session.onChange = (me, message, extra) => {
  if (me) signedIn(me);
  else signedOut(message, extra);
};

async function start() {
  $("sign-out").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", async () => {
    if (window.location.hash.includes("token=")) {
      try {
        await resume();
      } catch (err) {
        signedOut(err.message);
      }
      return;
    }
    if (session.me) showRoute();
  });
  try {
    const me = await resume();
    if (!me) signedOut(null);
  } catch (err) {
    signedOut(err.message);
  }
}

start().catch((err) => {
  $("view").replaceChildren(errorBox("The app could not start: " + err.message));
});
export { el };
