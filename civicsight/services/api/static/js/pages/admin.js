// The administrator's workspace: users, API tokens, the analytics of each camera, and the
// retention policy in force. One-time passwords and new tokens are shown once, in a dialog
// with a copy button and a warning, and are never kept by the page; disabling, resetting
// and revoking ask first. Every change is recorded in the audit log by the API, which also
// refuses what the role may not do and face matching without a purpose and a legal basis.

import { getJson, postJson, putJson } from "../api.js";
import { dialog, el, emptyBox, errorBox, loading, timeEl, toast, useStyle } from "../dom.js";

const ROLES = [
  ["viewer", "Viewer", "live tiles, faces blurred"],
  ["operator", "Operator", "live tiles and watchlist alerts"],
  ["investigator", "Investigator", "searches with a case and a purpose"],
  ["traffic_analyst", "Traffic analyst", "counts and flows only"],
  ["auditor", "Auditor", "reads the audit log only"],
  ["admin", "Administrator", "users, tokens, cameras"],
];
const ANALYTICS = [  // key, column, name, what it does
  ["detect", "Detect", "Detection and tracking", "people and vehicles, boxes and tracks"],
  ["plates", "Plates", "Licence plates", "reads plates of tracked vehicles"],
  ["reid", "Re-ID", "Re-identification", "appearance vectors to link tracks across cameras"],
  ["faces", "Faces", "Face matching", "against the watchlist only; needs a purpose and a legal basis"],
];
const TABS = [["users", "Users"], ["tokens", "Tokens"], ["cameras", "Cameras"],
  ["retention", "Retention"]];
const USERNAME = "[a-z][a-z0-9._\\-]{1,63}";

function roleName(role) {
  const found = ROLES.find(([v]) => v === role);
  return found ? found[1] : role;
}

function roleSelect(id) {
  return el("select", { id, name: "role", required: true },
    ROLES.map(([v, label, what]) => el("option", { value: v, text: label + " — " + what })));
}

function field(label, input, extra) {
  return el("label", { class: "field" }, el("span", { text: label }), input, extra || null);
}

function statePill(state) {
  const kinds = { active: "ok", live: "ok", must_change_password: "warn", disabled: "bad",
    revoked: "bad", expired: "" };
  const words = { must_change_password: "one-time password" };
  return el("span", { class: "pill state-pill " + (kinds[state] ? "pill-" + kinds[state] : ""),
    text: words[state] || state });
}

async function copyText(input) {
  try {
    await navigator.clipboard.writeText(input.value);
    return true;
  } catch (_err) {
    input.focus();
    input.select();
    try {
      return document.execCommand("copy");
    } catch (_e) {
      return false;
    }
  }
}

/** Shows a secret once: a read-only field, a copy button and a warning. Resolves when the
 * reader closes it; the secret is removed from the page then. */
export function secretDialog({ title, label, secret, warning }) {
  return new Promise((resolve) => {
    const input = el("input", { id: "secret-value", class: "mono secret-value", type: "text",
      readonly: true, value: secret, spellcheck: "false", "aria-label": label });
    const copied = el("span", { class: "copied", role: "status" });
    const copy = el("button", { type: "button", id: "secret-copy", class: "button" }, "Copy");
    copy.addEventListener("click", async () => {
      copied.textContent = (await copyText(input)) ? "Copied." : "Select it and copy by hand.";
    });
    const done = el("button", { type: "button", id: "secret-done", class: "button button-quiet" },
      "I have saved it");
    const card = el("div", { class: "dialog-card secret-card" },
      el("h2", { text: title }),
      el("p", { class: "secret-warning", role: "note", text: warning }),
      el("label", { class: "field", for: "secret-value" }, el("span", { text: label }),
        el("div", { class: "secret-row" }, input, copy)),
      copied,
      el("div", { class: "dialog-actions" }, done));
    const backdrop = el("div", { class: "dialog-backdrop", role: "dialog", "aria-modal": "true",
      "aria-label": title, id: "secret-dialog" }, card);
    done.addEventListener("click", () => {
      input.value = "";
      backdrop.remove();
      resolve();
    });
    document.body.append(backdrop);
    input.focus();
    input.select();
  });
}

function confirmAction(title, text, submit) {
  return dialog({ title, text, submit, danger: true });
}

// ---- users

async function usersTab(box, ctx) {
  const users = await getJson("/api/admin/users");
  if (!ctx.alive()) return;
  const name = el("input", { id: "user-name", name: "username", type: "text", required: true,
    pattern: USERNAME, maxlength: 64, spellcheck: "false", placeholder: "e.g. a.jansen",
    title: "2-64 characters: a-z first, then a-z 0-9 . _ -" });
  const role = roleSelect("user-role");
  const form = el("form", { id: "user-form", class: "admin-form", autocomplete: "off" },
    field("User name", name), field("Role", role),
    el("button", { type: "submit", id: "user-add", class: "button" }, "Add user"));
  const error = el("p", { class: "error", role: "alert", hidden: true });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      const out = await postJson("/api/admin/users", { username: name.value.trim(),
        role: role.value });
      await secretDialog({
        title: "User " + out.user.username + " added",
        label: "One-time password",
        secret: out.one_time_password,
        warning: "Shown only now: the hub keeps only a hash of it. Give it to "
          + out.user.username + " in person or over a trusted channel; they must choose "
          + "their own password when they first sign in.",
      });
      toast("Added " + out.user.username + " (" + roleName(out.user.role) + ").", "ok");
      refresh(box, ctx, "users");
    } catch (err) {
      error.hidden = false;
      error.textContent = err.message;
    }
  });

  const me = ctx.me.label;
  const rows = users.map((u) => {
    const reset = el("button", { type: "button", class: "button button-quiet user-reset",
      dataset: { user: u.username } }, "Reset password");
    reset.addEventListener("click", async () => {
      const ok = await confirmAction("Reset the password of " + u.username + "?",
        "A new one-time password replaces the current one. " + u.username + " is signed out "
        + "everywhere now and must choose a new password at the next sign-in.", "Reset password");
      if (!ok) return;
      try {
        const out = await postJson("/api/admin/users/" + encodeURIComponent(u.username)
          + "/reset-password");
        await secretDialog({ title: "New one-time password for " + u.username,
          label: "One-time password", secret: out.one_time_password,
          warning: "Shown only now. " + u.username + " must change it at the next sign-in." });
        refresh(box, ctx, "users");
      } catch (err) {
        toast(err.message, "error");
      }
    });
    const disabled = u.state === "disabled";
    const self = u.username === me;
    const flip = el("button", { type: "button", dataset: { user: u.username },
      class: "button " + (disabled ? "button-quiet user-enable" : "button-outline-danger user-disable"),
      disabled: self && !disabled,
      title: self && !disabled ? "You cannot disable yourself" : null },
    disabled ? "Enable" : "Disable");
    flip.addEventListener("click", async () => {
      if (!disabled) {
        const ok = await confirmAction("Disable " + u.username + "?", u.username + " is signed "
          + "out everywhere now and cannot sign in until enabled again.", "Disable");
        if (!ok) return;
      }
      try {
        await postJson("/api/admin/users/" + encodeURIComponent(u.username)
          + (disabled ? "/enable" : "/disable"));
        toast((disabled ? "Enabled " : "Disabled ") + u.username + ".", "ok");
        refresh(box, ctx, "users");
      } catch (err) {
        toast(err.message, "error");
      }
    });
    return el("tr", { dataset: { user: u.username }, class: disabled ? "row-ended" : "" },
      el("td", {}, el("strong", { text: u.username }), self ? el("span", { class: "you",
        text: " (you)" }) : null),
      el("td", { text: roleName(u.role) }),
      el("td", {}, statePill(u.state)),
      el("td", { class: "num" }, timeEl(u.created_at)),
      el("td", { class: "actions" }, el("div", { class: "action-buttons" }, reset, flip)));
  });
  box.replaceChildren(
    el("section", { class: "panel" }, el("div", { class: "panel-head" },
      el("h2", { text: "Add a user" })),
    el("p", { class: "hint", text: "People sign in with a user name and password. The hub "
      + "makes a one-time password, shown once; the user replaces it at the first sign-in." }),
    form, error),
    el("section", { class: "panel" },
      el("div", { class: "panel-head" }, el("h2", { text: "Users" }),
        el("span", { class: "count", text: users.length + " in all" })),
      users.length ? el("div", { class: "table-wrap" }, el("table", { class: "data", id: "users-table" },
        el("thead", {}, el("tr", {}, ["User", "Role", "State", "Created", ""].map((h) =>
          el("th", { text: h })))),
        el("tbody", {}, rows))) : emptyBox("No users yet.")));
}

// ---- tokens

async function tokensTab(box, ctx) {
  const tokens = await getJson("/api/admin/tokens");
  if (!ctx.alive()) return;
  const label = el("input", { id: "token-label", type: "text", required: true, maxlength: 120,
    placeholder: "e.g. wall display, control room 2" });
  const role = roleSelect("token-role");
  const days = el("input", { id: "token-days", type: "number", min: 1, max: 366, step: 1,
    value: 30, required: true });
  const form = el("form", { id: "token-form", class: "admin-form", autocomplete: "off" },
    field("Label", label), field("Role", role), field("Valid (days)", days),
    el("button", { type: "submit", id: "token-issue", class: "button" }, "Issue token"));
  const error = el("p", { class: "error", role: "alert", hidden: true });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      const out = await postJson("/api/admin/tokens", { label: label.value.trim(),
        role: role.value, days: Number(days.value) });
      await secretDialog({
        title: "Token issued: " + out.token.label,
        label: roleName(out.token.role) + " token, valid until "
          + new Date(out.token.expires_at * 1000).toLocaleString(),
        secret: out.secret,
        warning: "Shown only now: the hub keeps only a hash of it. Anyone holding it acts as "
          + roleName(out.token.role).toLowerCase() + " until it expires or is revoked.",
      });
      refresh(box, ctx, "tokens");
    } catch (err) {
      error.hidden = false;
      error.textContent = err.message;
    }
  });
  const showEnded = el("input", { type: "checkbox", id: "tokens-ended" });
  const tbody = el("tbody");
  const draw = () => {
    const listed = tokens.filter((t) => showEnded.checked || t.state === "live");
    tbody.replaceChildren(...listed.map((t) => {
      const mine = t.token_id === ctx.me.token_id;
      const revoke = t.state === "live" ? el("button", { type: "button",
        class: "button button-outline-danger token-revoke", dataset: { token: t.token_id } },
      "Revoke") : null;
      if (revoke) {
        revoke.addEventListener("click", async () => {
          const ok = await confirmAction("Revoke “" + t.label + "”?", "The token stops working "
            + "at once, for whoever holds it. This cannot be undone."
            + (mine ? " It is the token you are signed in with: you will be signed out." : ""),
          "Revoke");
          if (!ok) return;
          try {
            await postJson("/api/admin/tokens/" + t.token_id + "/revoke");
            toast("Revoked “" + t.label + "”.", "ok");
            refresh(box, ctx, "tokens");
          } catch (err) {
            toast(err.message, "error");
          }
        });
      }
      return el("tr", { dataset: { token: t.token_id }, class: t.state === "live" ? "" : "row-ended" },
        el("td", {}, el("strong", { text: t.label }),
          mine ? el("span", { class: "you", text: " (you)" }) : null),
        el("td", { text: roleName(t.role) }),
        el("td", {}, statePill(t.state)),
        el("td", { class: "num" }, timeEl(t.created_at)),
        el("td", { class: "num" }, timeEl(t.state === "revoked" ? t.revoked_at : t.expires_at)),
        el("td", {}, el("code", { class: "token-id", text: t.token_id })),
        el("td", { class: "actions" }, revoke ? el("div", { class: "action-buttons" }, revoke)
          : null));
    }));
    if (!listed.length) tbody.append(el("tr", {}, el("td", { colspan: 7 },
      emptyBox(tokens.length ? "No live token." : "No token issued yet."))));
  };
  showEnded.addEventListener("change", draw);
  draw();
  const live = tokens.filter((t) => t.state === "live").length;
  box.replaceChildren(
    el("section", { class: "panel" }, el("div", { class: "panel-head" },
      el("h2", { text: "Issue a token" })),
    el("p", { class: "hint", text: "For wall displays and machines. A token acts in one role "
      + "until it expires (at most a year) or is revoked." }),
    form, error),
    el("section", { class: "panel" },
      el("div", { class: "panel-head" }, el("h2", { text: "Tokens" }),
        el("label", { class: "check" }, showEnded, " Show revoked and expired"),
        el("span", { class: "count", text: live + " live of " + tokens.length })),
      el("div", { class: "table-wrap" }, el("table", { class: "data", id: "tokens-table" },
        el("thead", {}, el("tr", {}, ["Label", "Role", "State", "Issued", "Ends", "Id", ""]
          .map((h) => el("th", { text: h })))), tbody))));
}

// ---- cameras

function cameraBlock(cam, box, ctx) {
  const a = cam.analytics;
  const checks = {};
  const boxes = ANALYTICS.map(([key, , label]) => {
    checks[key] = el("input", { type: "checkbox", name: key, checked: a[key],
      "aria-label": label + " on " + cam.name });
    return el("td", { class: "check-cell" }, checks[key]);
  });
  const purpose = el("textarea", { name: "faces_purpose", rows: 2, maxlength: 500,
    class: "faces-purpose", placeholder: "why faces are matched on this camera (10-500 characters)" });
  purpose.value = a.faces_purpose || "";
  const basis = el("input", { type: "text", name: "faces_legal_basis", maxlength: 300,
    class: "faces-basis", placeholder: "the law or decision that permits it, e.g. court order 2026/77",
    value: a.faces_legal_basis || "" });
  const error = el("p", { class: "error camera-error", role: "alert" });
  const errorRow = el("tr", { class: "error-row", hidden: true }, el("td", { colspan: 7 }, error));
  const save = el("button", { type: "button", class: "button camera-save", disabled: true },
    "Save");
  const legalRow = el("tr", { class: "faces-row", hidden: !a.faces },
    el("td", { colspan: 7 }, el("div", { class: "faces-legal" },
      el("p", { class: "faces-warning", text: "Face matching compares every face this camera "
        + "sees with the watchlist. It needs a stated purpose and the legal basis that permits "
        + "it; both go to the audit log, and the public transparency page says this camera "
        + "matches faces." }),
      el("div", { class: "faces-fields" }, field("Purpose", purpose), field("Legal basis", basis)))));
  const body = () => {
    const out = { detect: checks.detect.checked, plates: checks.plates.checked,
      reid: checks.reid.checked, faces: checks.faces.checked };
    if (out.faces && purpose.value.trim()) out.faces_purpose = purpose.value.trim();
    if (out.faces && basis.value.trim()) out.faces_legal_basis = basis.value.trim();
    return out;  // switched off, faces lose their purpose and basis (the API drops them too)
  };
  const saved = JSON.stringify(body());
  const changed = () => {
    legalRow.hidden = !checks.faces.checked;
    save.disabled = JSON.stringify(body()) === saved;
  };
  for (const input of [...Object.values(checks), purpose, basis]) {
    input.addEventListener("input", changed);
    input.addEventListener("change", changed);
  }
  save.addEventListener("click", async () => {
    errorRow.hidden = true;
    const wanted = body();
    if (wanted.faces && !((wanted.faces_purpose || "").length >= 10
      && (wanted.faces_legal_basis || "").length >= 5)) {
      errorRow.hidden = false;
      error.textContent = "Face matching needs a purpose (at least 10 characters) and a legal "
        + "basis (at least 5): both are recorded in the audit log.";
      return;
    }
    save.disabled = true;
    try {
      await putJson("/api/cameras/" + encodeURIComponent(cam.id) + "/analytics", wanted);
      toast("Saved the analytics of " + cam.name + ".", "ok");
      refresh(box, ctx, "cameras");
    } catch (err) {
      errorRow.hidden = false;
      error.textContent = err.message.replace(/^request: (Value error, )?/, "");
      save.disabled = false;
    }
  });
  return el("tbody", { class: "camera-block", dataset: { camera: cam.id } },
    el("tr", { class: "camera-row" },
      el("td", {}, el("strong", { text: cam.name }), " ", el("code", { text: cam.id }),
        cam.simulated ? el("span", { class: "badge badge-simulated", text: "simulated" }) : null),
      el("td", { class: "camera-source", text: cam.redacted_source }),
      boxes,
      el("td", { class: "actions" }, save)),
    legalRow,
    errorRow);
}

async function camerasTab(box, ctx) {
  const cameras = await getJson("/api/cameras");
  if (!ctx.alive()) return;
  const faces = cameras.filter((c) => c.analytics.faces).length;
  box.replaceChildren(el("section", { class: "panel" },
    el("div", { class: "panel-head" }, el("h2", { text: "Camera analytics" }),
      el("span", { class: "count", text: cameras.length + " cameras, " + faces
        + " matching faces" })),
    el("p", { class: "hint", text: "A saved change rewrites the camera's file at once (its other "
      + "settings kept). Faces, plates and re-identification follow within seconds; detection "
      + "changes take effect when the camera's services restart." }),
    el("ul", { class: "legend" }, ANALYTICS.map(([, , label, what]) =>
      el("li", {}, el("strong", { text: label }), " — " + what))),
    cameras.length ? el("div", { class: "table-wrap" }, el("table", { class: "data", id: "cameras-table" },
      el("thead", {}, el("tr", {}, el("th", { text: "Camera" }), el("th", { text: "Source" }),
        ANALYTICS.map(([, column, label]) => el("th", { class: "check-cell", title: label,
          text: column })),
        el("th", {}))),
      cameras.map((c) => cameraBlock(c, box, ctx)))) : emptyBox("No cameras are configured.")));
}

// ---- retention

async function retentionTab(box, ctx) {
  const data = await getJson("/api/admin/retention");
  if (!ctx.alive()) return;
  const ms = (v) => {
    const h = v / 3_600_000;
    return h >= 24 && h % 24 === 0 ? h / 24 + " d" : h + " h";
  };
  box.replaceChildren(el("section", { class: "panel" },
    el("div", { class: "panel-head" }, el("h2", { text: "Retention in force" }),
      el("span", { class: "pill " + (data.site_file ? "pill-warn" : ""),
        text: data.site_file ? "site settings" : "defaults" })),
    el("p", { class: "hint", text: "How long each class of data is kept, and where. Set per "
      + "site in the file named by CIVICSIGHT_RETENTION_FILE (the audit log at least 183 "
      + "days); the hub enforces it every hour. Topics keep at most 7 days." }),
    el("div", { class: "table-wrap" }, el("table", { class: "data", id: "retention-table" },
      el("thead", {}, el("tr", {}, ["Data class", "Kept", "What and where", "Topics"].map((h) =>
        el("th", { text: h })))),
      el("tbody", {}, data.rows.map((r) => el("tr", { dataset: { class: r.data_class } },
        el("td", {}, el("code", { text: r.data_class })),
        el("td", { class: "num", text: r.keep }),
        el("td", { class: "muted", text: r.what }),
        el("td", {}, r.topics.length ? r.topics.map((t) => el("span", { class: "topic" },
          el("code", { text: t.topic }), " " + ms(t.retention_ms))) : "—"))))))));
}

const LOADERS = { users: usersTab, tokens: tokensTab, cameras: camerasTab, retention: retentionTab };
let drawn = 0;

/** (Re)draws a tab; a slower, older load never overwrites a newer one. */
async function refresh(box, ctx, tab) {
  const mine = ++drawn;
  const base = ctx.base || ctx;
  const here = { ...base, base, alive: () => base.alive() && mine === drawn };
  try {
    await LOADERS[tab](box, here);
  } catch (err) {
    if (here.alive()) box.replaceChildren(errorBox(err.message, () => refresh(box, base, tab)));
  }
}

export async function render(root, ctx) {
  useStyle("admin");
  const first = TABS.some(([t]) => t === ctx.param) ? ctx.param : "users";
  const box = el("div", { id: "admin-tab", role: "tabpanel" }, loading());
  const buttons = TABS.map(([name, title]) => el("button", { type: "button", role: "tab",
    class: "tab", id: "tab-" + name, dataset: { tab: name } }, title));
  const select = (name) => {
    for (const b of buttons) {
      const on = b.dataset.tab === name;
      b.classList.toggle("active", on);
      b.setAttribute("aria-selected", String(on));
    }
    window.history.replaceState(null, "", ctx.href("admin", name === "users" ? null : name));
    box.replaceChildren(loading());
    refresh(box, ctx, name);
  };
  for (const b of buttons) b.addEventListener("click", () => select(b.dataset.tab));
  root.replaceChildren(
    el("div", { class: "page-head" }, el("h1", { text: "Administration" }),
      el("p", { class: "hint", text: "Every change here is recorded in the audit log." })),
    el("div", { class: "tabs", role: "tablist", "aria-label": "Administration" }, buttons),
    box);
  select(first);
}
