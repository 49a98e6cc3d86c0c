// The dashboard shell: a hash router (#/jobs, #/jobs/7, …), the top bar and the
// flash messages. Views are modules whose ``render(ctx)`` returns an element.

import {currentUser, isLoggedIn, logout, onSessionLost} from "./api.js";
import {fill, h, parseQuery} from "./dom.js";
import * as account from "./views/account.js";
import * as activity from "./views/activity.js";
import * as channels from "./views/channels.js";
import * as headers from "./views/headers.js";
import * as jobForm from "./views/jobform.js";
import * as job from "./views/job.js";
import * as jobs from "./views/jobs.js";
import * as keys from "./views/keys.js";
import * as login from "./views/login.js";
import * as schedules from "./views/schedules.js";
import * as users from "./views/users.js";

const ROUTES = [
  {pattern: /^\/login$/, view: login.render, public: true},
  {pattern: /^\/jobs$/, view: jobs.render},
  {pattern: /^\/jobs\/new$/, view: jobForm.render},
  {pattern: /^\/jobs\/(\d+)$/, view: job.render},
  {pattern: /^\/jobs\/(\d+)\/edit$/, view: jobForm.render},
  {pattern: /^\/schedules$/, view: schedules.renderList},
  {pattern: /^\/schedules\/new$/, view: schedules.renderForm},
  {pattern: /^\/schedules\/(\d+)$/, view: schedules.renderForm},
  {pattern: /^\/headers$/, view: headers.renderList},
  {pattern: /^\/headers\/new$/, view: headers.renderForm},
  {pattern: /^\/headers\/(\d+)$/, view: headers.renderForm},
  {pattern: /^\/channels$/, view: channels.render},
  {pattern: /^\/keys$/, view: keys.render},
  {pattern: /^\/activity$/, view: activity.render},
  {pattern: /^\/users$/, view: users.renderList, superuser: true},
  {pattern: /^\/users\/new$/, view: users.renderForm, superuser: true},
  {pattern: /^\/users\/(\d+)$/, view: users.renderForm, superuser: true},
  {pattern: /^\/account$/, view: account.render},
];

const main = document.getElementById("main");
const flashEl = document.getElementById("flash");
let cleanups = [];
let pendingFlash = null;
let renderCount = 0;

/** Shows ``text`` in the status line (now, or after the next navigation). */
export function flash(text, {later = false, kind = "ok"} = {}) {
  if (later) {
    pendingFlash = {text, kind};
    return;
  }
  flashEl.className = `flash ${kind}`;
  fill(flashEl, text ? h("p", {}, text) : null);
}

export function navigate(hash) {
  if (window.location.hash === hash) route();
  else window.location.hash = hash;
}

function updateChrome(section) {
  const user = currentUser();
  const loggedIn = isLoggedIn();
  document.getElementById("nav").hidden = !loggedIn;
  document.getElementById("who").hidden = !loggedIn;
  document.querySelector("[data-superuser]").hidden = !(user && user.is_superuser);
  document.getElementById("who-name").textContent = user ? user.username : "";
  for (const link of document.querySelectorAll("[data-section]")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function route() {
  for (const cleanup of cleanups) cleanup();
  cleanups = [];
  const raw = window.location.hash.replace(/^#/, "") || "/jobs";
  const [path, queryText] = raw.split("?");
  const match = ROUTES.map((r) => ({r, m: path.match(r.pattern)})).find((x) => x.m);
  if (!isLoggedIn() && !(match && match.r.public)) {
    const next = path === "/login" ? "" : `?next=${encodeURIComponent(raw)}`;
    window.location.replace(`#/login${next}`);
    return;
  }
  const section = path.split("/")[1];
  updateChrome(section);
  const count = ++renderCount;
  let content;
  if (!match) {
    content = h("section", {}, h("h1", {tabindex: "-1"}, "Page not found"),
      h("p", {}, "There is no such page. ", h("a", {href: "#/jobs"}, "Go to the jobs list.")));
  } else if (match.r.superuser && !(currentUser() && currentUser().is_superuser)) {
    content = h("section", {}, h("h1", {tabindex: "-1"}, "Not allowed"),
      h("p", {}, "Only superusers can manage users."));
  } else {
    const ctx = {
      params: match.m.slice(1), query: parseQuery(queryText), path,
      navigate, flash, onCleanup: (fn) => cleanups.push(fn),
      isCurrent: () => count === renderCount,
    };
    try {
      content = await match.r.view(ctx);
    } catch (error) {
      const title = {403: "Not allowed", 404: "Not found"}[error.status] || "Something went wrong";
      content = h("section", {}, h("h1", {tabindex: "-1"}, title),
        h("p", {class: "error", role: "alert"}, error.message || String(error)));
    }
  }
  if (count !== renderCount) return;  // a newer navigation won the race
  fill(main, content);
  // The message of what led here shows with the page it is about, not before it.
  flash(pendingFlash ? pendingFlash.text : "", {kind: pendingFlash ? pendingFlash.kind : "ok"});
  pendingFlash = null;
  const heading = main.querySelector("h1");
  document.title = heading ? `${heading.textContent} · Scheduler` : "Scheduler";
  if (heading && !main.contains(document.activeElement)) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({preventScroll: false});
  }
}

onSessionLost((reason) => {
  flash(reason, {later: true, kind: "bad"});
  navigate("#/login");
});

document.getElementById("logout").addEventListener("click", async () => {
  await logout();
  flash("You have been logged out.", {later: true});
  navigate("#/login");
});

window.addEventListener("hashchange", route);
route();
