// Team (admins, from the top bar): the users and their roles, a new user's one-time token, and the
// audit log of admin actions with its exports. Loaded when first opened; every value inserted as text.
import { api, download } from "./api.js";
import { $, el } from "./dom.js";
import { returnFocusOnClose } from "./panels.js";

const ROLES = ["viewer", "annotator", "admin"];
const PAGE = 50;
let built = null;

export function openTeam(session) {
  if (!built) built = build(session);
  const dialog = built.dialog;
  returnFocusOnClose(dialog);
  built.hideToken();
  if (!dialog.open) dialog.showModal();
  built.refresh();
  $("#team-add-name").focus();
}

const when = (iso) => (iso ? new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "never");

function build(session) {
  const dialog = el("dialog", { id: "team-dialog", class: "wide team-dialog", "aria-labelledby": "team-title" });
  document.body.append(dialog);
  const message = el("p", { id: "team-message", class: "team-message", role: "status", "aria-live": "polite" });
  const say = (text, kind = "") => { message.textContent = text; message.className = `team-message ${kind}`; };

  // ---- the token, shown once ----
  const tokenTitle = el("h3", { id: "team-token-title" });
  const tokenValue = el("input", { id: "team-token-value", readonly: true, spellcheck: "false", autocomplete: "off",
    "aria-labelledby": "team-token-title", "aria-describedby": "team-token-once" });
  const copied = el("span", { id: "team-token-copied", role: "status", "aria-live": "polite" });
  const tokenBox = el("section", { id: "team-token", class: "token-once", "aria-labelledby": "team-token-title", hidden: true },
    tokenTitle,
    el("p", { id: "team-token-once" }, el("strong", {}, "Shown once: "),
      "copy it now and hand it over privately. It can't be shown again (Reset token makes a new one)."),
    el("div", { class: "token-line" }, tokenValue,
      el("button", { type: "button", id: "team-token-copy", onclick: () => copy() }, "Copy"),
      el("button", { type: "button", id: "team-token-done", onclick: () => { hideToken(); $("#team-add-name").focus(); } }, "Done"),
      copied));
  function showToken(name, secret, why) {
    tokenTitle.textContent = `${why} token for ${name}`;
    tokenValue.value = secret;
    copied.textContent = "";
    tokenBox.hidden = false;
    tokenValue.focus();
    tokenValue.select();
  }
  function hideToken() {  // the secret leaves the page when it's done with
    tokenValue.value = "";
    tokenBox.hidden = true;
  }
  async function copy() {
    try {
      await navigator.clipboard.writeText(tokenValue.value);
      copied.textContent = "Copied.";
    } catch {
      tokenValue.select();
      copied.textContent = document.execCommand && document.execCommand("copy") ? "Copied." : "Select it and copy it (Ctrl-C).";
    }
  }

  // ---- users ----
  const users = el("tbody", { id: "team-users-body" });
  const table = el("table", { class: "team-table", id: "team-users" },
    el("caption", { class: "visually-hidden" }, "Users"),
    el("thead", {}, el("tr", {}, ...["Name", "Role", "Status", "Last sign-in", "Actions"].map((h) => el("th", { scope: "col" }, h)))),
    users);
  const addName = el("input", { id: "team-add-name", name: "name", required: true, maxlength: "64", autocomplete: "off",
    spellcheck: "false", pattern: "[A-Za-z0-9._@\\-]{1,64}", title: "1–64 letters, digits, . _ - @" });
  const addRole = el("select", { id: "team-add-role", name: "role" },
    ...ROLES.map((r) => el("option", { value: r, selected: r === "annotator" }, r)));
  const addForm = el("form", { id: "team-add", class: "team-add", "aria-labelledby": "team-add-title" },
    el("h3", { id: "team-add-title" }, "Add a user"),
    el("label", { for: "team-add-name" }, "Name"), addName,
    el("label", { for: "team-add-role" }, "Role"), addRole,
    el("button", { type: "submit", class: "primary", id: "team-add-submit" }, "Add user"));
  addForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = addName.value.trim();
    if (!name) { say("Type the new user's name.", "error"); addName.focus(); return; }
    try {
      const answer = await api("/api/users", { method: "POST", json: { name, role: addRole.value } });
      addName.value = "";
      say(`Added ${answer.user.name} (${answer.user.role}).`);
      await loadUsers();
      showToken(answer.user.name, answer.token, "One-time");
      loadAudit();
    } catch (error) { say(error.message, "error"); addName.focus(); }
  });

  // Disabling and a new token end that person's sessions at once: asked first (a misclick costs them).
  const ASK = { disable: (u) => `Disable ${u.name}? Their sessions end now and their token stops working.`,
                reset: (u) => `Give ${u.name} a new token? The old one stops working and their sessions end now.` };

  async function change(user, path, json, done) {
    if (ASK[path] && !window.confirm(ASK[path](user))) { say("Nothing changed."); return; }
    try {
      const answer = await api(`/api/users/${encodeURIComponent(user.name)}/${path}`, { method: "POST", json });
      say(done(answer.user));
      await loadUsers();
      if (answer.token) showToken(answer.user.name, answer.token, "New");
      loadAudit();
      if (answer.user.name === session.user.name && answer.user.role !== session.user.role) location.reload();
    } catch (error) { say(error.message, "error"); await loadUsers(); }
  }

  function userRow(user) {
    const role = el("select", { "aria-label": `Role of ${user.name}`, dataset: { user: user.name } },
      ...ROLES.map((r) => el("option", { value: r, selected: r === user.role }, r)));
    role.addEventListener("change", () => change(user, "role", { role: role.value }, (u) => `${u.name} is now ${u.role === "admin" ? "an" : "a"} ${u.role}.`));
    const toggle = user.disabled
      ? el("button", { type: "button", "aria-label": `Enable ${user.name}`, onclick: () => change(user, "enable", undefined, (u) => `Enabled ${u.name}.`) }, "Enable")
      : el("button", { type: "button", "aria-label": `Disable ${user.name}`, onclick: () => change(user, "disable", undefined, (u) => `Disabled ${u.name}: their sessions ended.`) }, "Disable");
    const reset = el("button", { type: "button", "aria-label": `Reset ${user.name}'s token`,
      title: "A new token; the old one stops working and their sessions end",
      onclick: () => change(user, "reset", undefined, (u) => `New token for ${u.name}: the old one no longer works.`) }, "Reset token");
    const you = user.name === session.user.name ? el("span", { class: "muted" }, " (you)") : null;
    return el("tr", { dataset: { user: user.name }, class: user.disabled ? "disabled" : "" },
      el("th", { scope: "row" }, user.name, you), el("td", {}, role),
      el("td", { class: "user-status" }, user.disabled ? "disabled" : "active"), el("td", {}, when(user.last_sign_in_at)),
      el("td", { class: "team-actions" }, toggle, " ", reset));
  }

  async function loadUsers() {
    try {
      const list = await api("/api/users");
      users.replaceChildren(...list.map(userRow));
    } catch (error) { say(error.message, "error"); }
  }

  // ---- the audit log: newest first, older pages by "Load more" ----
  const entries = el("tbody", { id: "team-audit-body" });
  const audit = el("table", { class: "team-table audit-table", id: "team-audit" },
    el("caption", { class: "visually-hidden" }, "Audit log, newest first"),
    el("thead", {}, el("tr", {}, ...["When", "Who", "Action", "Target", "Detail"].map((h) => el("th", { scope: "col" }, h)))),
    entries);
  const auditState = el("p", { id: "team-audit-state", class: "muted", role: "status", "aria-live": "polite" });
  const more = el("button", { type: "button", id: "team-audit-more", onclick: () => loadAudit(true) }, "Load more");
  let oldest = null;
  const exportLink = (format, label) => {
    const href = `/api/audit/export?format=${format}`;
    return el("a", { href, id: `team-audit-${format}`, class: "export-link", download: `audit.${format}`,
      onclick: async (e) => {
        e.preventDefault();
        try { await download(href, `audit.${format}`); } catch (error) { auditState.textContent = error.message; }
      } }, label);
  };

  async function loadAudit(older = false) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (older && oldest !== null) params.set("before", String(oldest));
    try {
      const list = await api(`/api/audit?${params}`);
      const rows = list.map(auditRow);
      if (older) entries.append(...rows); else entries.replaceChildren(...rows);
      if (list.length) oldest = list[list.length - 1].id;
      else if (!older) oldest = null;
      const end = list.length < PAGE;
      more.hidden = end;
      auditState.textContent = !entries.children.length ? "Nothing logged yet." : end ? `All ${entries.children.length} entries shown.` : "";
    } catch (error) { auditState.textContent = error.message; }
  }

  dialog.replaceChildren(
    el("div", { class: "dialog-head" }, el("h2", { id: "team-title" }, "Team"),
      el("button", { type: "button", id: "team-close", "aria-label": "Close Team", onclick: () => dialog.close() }, "✕")),
    el("section", { class: "team-users", "aria-labelledby": "team-users-title" },
      el("h3", { id: "team-users-title" }, "Users"), table, message, tokenBox, addForm),
    el("section", { class: "team-audit", "aria-labelledby": "team-audit-title" },
      el("div", { class: "team-audit-head" }, el("h3", { id: "team-audit-title" }, "Audit log"),
        el("span", { class: "team-exports" }, exportLink("csv", "Export CSV"), " ", exportLink("jsonl", "Export JSONL"))),
      el("div", { class: "audit-scroll", tabindex: "0", role: "region", "aria-label": "Audit log entries" }, audit), auditState, more));
  dialog.addEventListener("close", hideToken);

  return { dialog, hideToken, refresh: () => Promise.all([loadUsers(), loadAudit()]) };
}

function auditRow(entry) {
  return el("tr", { dataset: { id: entry.id } },
    el("td", { class: "audit-when" }, el("time", { datetime: entry.at }, when(entry.at))),
    el("td", {}, entry.actor ?? ""), el("td", {}, entry.action ?? ""), el("td", {}, entry.target ?? ""),
    el("td", { class: "audit-detail" }, detailText(entry.detail)));
}

// An entry's detail: its fields as "key: value" (JSON for what isn't text), or its text.
export function detailText(detail) {
  if (detail === null || detail === undefined) return "";
  if (typeof detail !== "object") return String(detail);
  return Object.entries(detail).map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join(" · ");
}
