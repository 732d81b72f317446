// Accounts: who is signed in, the sign-in screen, the top bar's "Signed in as", and what a role may use.
// With accounts off (GET /api/session says so) none of this shows: the page is the single-user page.
//
// Controls a role can't use carry data-needs="annotator" or data-needs="admin" (in index.html, and on
// the ones modules build later): they are disabled here, from one place, with the reason as their
// description (aria-describedby), their title, and said aloud when pressed.
import { api, forgetToken, onUnauthorized, token } from "./api.js";
import { $, el, toast } from "./dom.js";

const RANK = { viewer: 0, annotator: 1, admin: 2 };
export const session = { accounts: false, user: null };
const FLASH = "workbench-signin-message";  // a message for the sign-in screen after a reload (signed out)
const LAST_NAME = "workbench-signin-name";

// Whether the signed-in user may do what needs `role` (always, with accounts off).
export function can(role) {
  if (!session.accounts) return true;
  return Boolean(session.user) && (RANK[session.user.role] ?? -1) >= (RANK[role] ?? 99);
}

const ROLE_NOTE = {
  viewer: "You are a viewer: you can browse, filter and export. Annotating needs the annotator role; " +
    "datasets, tasks, models and runs need an admin.",
  annotator: "You are an annotator: you can browse, export and annotate. Datasets, tasks, models and runs " +
    "need an admin.",
};

const article = (word) => (/^[aeiou]/i.test(word) ? `an ${word}` : `a ${word}`);
export function reason(role) {
  const mine = session.user ? session.user.role : "signed out";
  return `Needs the ${role} role; you are ${session.user ? article(mine) : mine}.`;
}

// Says why, and answers true, when the signed-in user may not do what needs `role`.
export function refuse(role) {
  if (can(role)) return false;
  toast(reason(role), "error");
  return true;
}

// The page's start: resolves once the page may load (accounts off, or someone signed in).
export async function ready() {
  let info = null;
  try { info = await api("/api/session"); } catch { info = null; }  // an older server: no accounts
  if (!info || !info.accounts) return session;
  session.accounts = true;
  document.body.classList.add("accounts");
  onUnauthorized((sent) => { if (sent >= signedInAt) sessionEnded(); });
  if (token()) {
    // A user's token from the address is traded for a session and dropped at once: kept, it would
    // speak for whoever holds this tab once a session ends (a link with someone else's token), and
    // a reset one would count as a failed sign-in on every call until the address is refused (429).
    if (info.user) {
      try { await api("/api/session", { method: "POST", json: { name: info.user.name, token: token() } }); } catch { /* not this user's */ }
    }
    forgetToken();
    try { info = await api("/api/session"); } catch { info = { accounts: true, user: null }; }
  }
  if (info.user) session.user = info.user;
  else {
    if (token()) forgetToken();  // a shared token grants nothing once accounts are on
    const flash = sessionStorage.getItem(FLASH);
    sessionStorage.removeItem(FLASH);
    session.user = await signIn(flash);
  }
  enterPage();
  return session;
}

// ---- the sign-in screen ----
let signinScreen = null;
let signedInAt = 0;  // performance.now() of the latest sign-in: a 401 to a call sent before it is old news
let waiting = null;  // the sign-in under way: { promise, resolve }

function buildScreen() {
  const name = el("input", { id: "signin-name", name: "name", required: true, maxlength: "64", autocomplete: "username",
    autocapitalize: "off", spellcheck: "false" });
  const secret = el("input", { id: "signin-token", name: "token", type: "password", required: true, autocomplete: "off",
    spellcheck: "false" });
  const message = el("p", { id: "signin-message", class: "signin-message", role: "alert" });
  const submit = el("button", { type: "submit", class: "primary", id: "signin-submit" }, "Sign in");
  const form = el("form", { id: "signin-form", class: "signin-form", "aria-labelledby": "signin-title", novalidate: true },
    el("h1", { id: "signin-title" }, "Sign in to Dataset Workbench"),
    el("p", { class: "muted" }, "This workbench has accounts: sign in with your name and the token an admin gave you."),
    el("label", { for: "signin-name" }, "Name"), name,
    el("label", { for: "signin-token" }, "Token"), secret,
    submit, message,
    el("p", { class: "hint" }, "No token yet? An admin makes one in Team, or with ", el("code", {}, "workbench users add NAME"), "."));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const typed = { name: name.value.trim(), token: secret.value.trim() };
    if (!typed.name || !typed.token) { say(message, !typed.name ? "Type your name." : "Type your token."); (typed.name ? secret : name).focus(); return; }
    submit.disabled = true;
    say(message, "Signing in…", "info");
    try {
      const answer = await api("/api/session", { method: "POST", json: typed });
      signedInAt = performance.now();
      secret.value = "";
      say(message, "");
      localStorage.setItem(LAST_NAME, answer.user.name);
      const done = waiting;
      waiting = null;
      done.resolve(answer.user);
    } catch (error) {
      say(message, signInError(error));
      secret.select();
      secret.focus();
    } finally { submit.disabled = false; }
  });
  return el("main", { id: "signin", class: "signin", hidden: true }, form);
}

function say(box, text, kind = "error") {
  box.textContent = text;
  box.className = `signin-message ${kind}`;
}

function signInError(error) {
  if (error.status === 401) return /disabled/.test(error.message || "") ? error.message : "Wrong name or token.";
  if (error.status === 429) return `Too many failed sign-ins: ${retryText(error.retryAfter)}`;
  if (error.status === 409) return "This workbench has no accounts any more: reload the page.";
  return `Could not sign in: ${error.message}`;
}

// Retry-After is seconds or an HTTP date: "try again in 12 minutes (at 07:41)."
export function retryText(header, now = Date.now()) {
  let at = null;
  if (header && /^\d+$/.test(header.trim())) at = now + Number(header) * 1000;
  else if (header && !Number.isNaN(Date.parse(header))) at = Date.parse(header);
  if (at === null) return "try again later.";
  const seconds = Math.max(1, Math.ceil((at - now) / 1000));
  const clock = new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const wait = seconds < 90 ? `${seconds} second${seconds === 1 ? "" : "s"}` : `${Math.ceil(seconds / 60)} minutes`;
  return `try again in ${wait} (at ${clock}).`;
}

// Shows the sign-in screen (the page behind it hidden) until someone signs in; resolves with the user.
function signIn(message = "") {
  if (waiting) { if (message) say($("#signin-message"), message, "info"); return waiting.promise; }
  if (!signinScreen) { signinScreen = buildScreen(); document.body.prepend(signinScreen); }
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();  // a modal would cover the form
  document.body.classList.add("signing-in");
  signinScreen.hidden = false;
  say($("#signin-message"), message || "", "info");
  const name = $("#signin-name");
  if (!name.value) name.value = localStorage.getItem(LAST_NAME) || "";
  (name.value ? $("#signin-token") : name).focus();
  let resolve;
  const promise = new Promise((r) => { resolve = r; }).then((user) => {
    signinScreen.hidden = true;
    document.body.classList.remove("signing-in");
    return user;
  });
  waiting = { promise, resolve };
  return promise;
}

// An API call answered 401: the session expired, was ended elsewhere, or the user was disabled.
async function sessionEnded() {
  if (waiting) return;
  forgetToken();  // a token that got a 401 is reset or disabled: sent on, it counts as a failed sign-in
  const before = session.user;
  const user = await signIn("Your session has ended (it expired, you were signed out, or your account was disabled): sign in again.");
  if (!before || user.name !== before.name || user.role !== before.role) { location.reload(); return; }
  toast(`Signed in again as ${user.name}.`);
}

async function signOut() {
  try { await api("/api/session", { method: "DELETE" }); } catch (error) { toast(error.message, "error"); return; }
  forgetToken();  // signed in by a user's token (?token=): this tab forgets it too
  sessionStorage.setItem(FLASH, "You signed out.");
  location.reload();  // the page forgets everything it showed; the sign-in screen comes back empty
}

// ---- the page, signed in ----
function enterPage() {
  const user = session.user;
  const field = $("#user-name");
  if (field && field.closest("label")) field.closest("label").hidden = true;  // the author is the signed-in user
  const team = user.role === "admin"
    ? el("button", { type: "button", id: "open-team", title: "Users, roles and the audit log", onclick: openTeam }, "Team") : null;
  const who = el("span", { id: "whoami", class: "whoami" }, "Signed in as ", el("strong", {}, user.name), ` (${user.role})`);
  const out = el("button", { type: "button", id: "sign-out", onclick: signOut }, "Sign out");
  // The reasons controls point at (aria-describedby), read by screen readers only, inside the banner.
  const reasons = ["annotator", "admin"].filter((role) => !can(role))
    .map((role) => el("span", { id: `needs-${role}`, class: "visually-hidden" }, reason(role)));
  $(".topbar").append(el("span", { class: "account", role: "group", "aria-label": "Your account" }, who, team, out), ...reasons);
  // What this role may do, visible (a greyed control's own reason is only on hover, focus or press).
  if (!can("admin")) $(".topbar").append(el("p", { id: "role-note", class: "role-note" }, ROLE_NOTE[user.role] || reason("viewer")));
  watchRoles();
}

async function openTeam() {
  try {
    const { openTeam: open } = await import("./team.js");
    open(session);
  } catch (error) { toast(`Team: ${error.message}`, "error"); }
}

// ---- controls a role can't use ----
const TEXT_INPUT = /^(text|search|number|url|email|)$/;

function restrict(node) {
  const role = node.dataset.needs;
  if (can(role) || node.dataset.needsDone) return;
  node.dataset.needsDone = "1";
  const why = reason(role);
  if (node.dataset.needsHide !== undefined) {  // data-needs-hide="What it does" (said in a note), or empty
    node.hidden = true;
    if (node.dataset.needsHide) node.after(el("p", { class: "needs-note" }, `${node.dataset.needsHide}: ${why.toLowerCase()}`));
    return;
  }
  const tag = node.tagName;
  if (tag === "TEXTAREA" || (tag === "INPUT" && TEXT_INPUT.test(node.type))) node.readOnly = true;
  else if (tag === "INPUT" || tag === "SELECT") node.disabled = true;
  else node.setAttribute("aria-disabled", "true");  // still focusable, so its reason can be read
  const described = (node.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  node.setAttribute("aria-describedby", [...new Set([...described, `needs-${role}`])].join(" "));
  node.title = why;
  node.classList.add("needs-role");
}

function watchRoles() {
  if (can("admin")) return;  // nothing to hold back
  for (const node of document.querySelectorAll("[data-needs]")) restrict(node);
  new MutationObserver((changes) => {
    for (const change of changes) {
      for (const node of change.addedNodes) {
        if (node.nodeType !== 1) continue;
        if (node.matches("[data-needs]")) restrict(node);
        for (const inner of node.querySelectorAll("[data-needs]")) restrict(inner);
      }
    }
  }).observe(document.body, { childList: true, subtree: true });
  // A press on a held-back control (mouse, Enter, Space) does nothing but say why.
  document.addEventListener("click", (e) => {
    const node = e.target instanceof Element ? e.target.closest("[data-needs][aria-disabled=true]") : null;
    if (!node) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    toast(reason(node.dataset.needs), "error");
  }, true);
}
