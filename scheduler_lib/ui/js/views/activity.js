// The audit log in words: the Activity page (#/activity, filters by job, user and
// action; superusers see everyone's entries) and the "Recent activity" block of a
// job page ("alice paused this job · 2 min ago").

import {api, currentUser} from "../api.js";
import {errorBox, fill, h, timeEl} from "../dom.js";
import {listAll, pageOf, pager} from "../parts.js";

const JOB_RECENT = 10;

// What each action did, as a verb phrase; {it} is "this job" on a job page, else a name.
const PHRASES = {
  "job.create": "created {it}", "job.update": "changed {it}", "job.pause": "paused {it}",
  "job.resume": "resumed {it}", "job.run": "ran {it} by hand", "job.delete": "deleted {it}",
  "member.add": "added a member to {it}", "member.update": "changed a member's role on {it}",
  "member.remove": "removed a member from {it}",
  "result.create": "recorded a result of {it}", "result.update": "edited a result of {it}",
  "result.delete": "deleted a result of {it}",
  "schedule.create": "created a schedule", "schedule.update": "changed a schedule",
  "schedule.delete": "deleted a schedule",
  "header.create": "created a header preset", "header.update": "changed a header preset",
  "header.delete": "deleted a header preset",
  "apikey.create": "created an API key", "apikey.update": "changed an API key",
  "apikey.rotate": "rotated an API key", "apikey.delete": "deleted an API key",
  "channel.create": "created a notification channel",
  "channel.update": "changed a notification channel",
  "channel.rotate": "rotated a channel's secret", "channel.delete": "deleted a notification channel",
  "subscription.create": "subscribed a channel to {it}",
  "subscription.update": "changed a subscription of {it}",
  "subscription.delete": "removed a subscription from {it}",
  "user.create": "created a user", "user.update": "changed a user", "user.delete": "deleted a user",
  "login": "logged in", "login.failed": "failed to log in", "logout": "logged out",
  "token.refresh": "renewed a session", "token.reuse": "reused a spent session token (revoked)",
  "import": "imported schedules, presets and jobs",
};
export const ACTIONS = Object.keys(PHRASES);

function actorName(entry) {
  if (entry.via === "system") return "The scheduler";
  if (entry.via === "cli") return "An operator (command line)";
  return entry.username || (entry.user_id ? `user #${entry.user_id}` : "Someone unknown");
}

/** One entry as a sentence: "alice paused this job" (``jobName``: how to call the job). */
export function describe(entry, jobName) {
  const phrase = PHRASES[entry.action] || `did ${entry.action}`;
  let text = `${actorName(entry)} ${phrase.replace("{it}", jobName || "a job")}`;
  if (entry.changed.length && !["job.pause", "job.resume"].includes(entry.action)) {
    text += ` (${entry.changed.join(", ")})`;
  }
  return text;
}

function entryItem(entry, jobName) {
  const via = entry.via === "apikey" ? `API key #${entry.api_key_id}` : null;
  return h("li", {"data-audit-id": entry.id, "data-action": entry.action},
    h("span", {class: "what"}, describe(entry, jobName)), " · ", timeEl(entry.at),
    via ? h("span", {class: "muted"}, ` · via ${via}`) : null);
}

/** The job page's block: its newest entries, with a link to the full history. */
export function recentActivity(job) {
  const errors = errorBox();
  const list = h("ul", {class: "activity"}, h("li", {class: "muted"}, "Loading…"));
  api("GET", "/audit", {query: {fetch_id: job.id, limit: JOB_RECENT}}).then((reply) => {
    fill(list, reply.data.length ? reply.data.map((e) => entryItem(e, "this job"))
      : h("li", {class: "muted"}, "Nothing recorded yet."));
  }).catch((error) => {
    fill(list);
    errors.show(error);
  });
  return h("section", {class: "card", "aria-labelledby": "activity-title"},
    h("div", {class: "title-row"}, h("h2", {id: "activity-title"}, "Recent activity"),
      h("a", {href: `#/activity?fetch_id=${job.id}`}, "All activity of this job")),
    errors.el, list);
}

function select(id, label, options, value, onchange) {
  const control = h("select", {id, onchange}, options.map(([optionValue, text]) =>
    h("option", {value: optionValue, selected: String(optionValue) === String(value || "")}, text)));
  return h("div", {class: "field inline"}, h("label", {for: id}, label), control);
}

/** The Activity page. */
export async function render(ctx) {
  const me = currentUser();
  const {limit, offset} = pageOf(ctx.query);
  const filters = {};
  for (const name of ["fetch_id", "user_id", "action"]) {
    if (ctx.query[name]) filters[name] = ctx.query[name];
  }
  const [reply, jobs, users] = await Promise.all([
    api("GET", "/audit", {query: {...filters, limit, offset}}),
    listAll("/fetch", me.is_superuser ? {all: "true"} : {}).catch(() => []),
    me.is_superuser ? listAll("/user").catch(() => []) : Promise.resolve([]),
  ]);
  const jobNames = new Map(jobs.map((job) => [job.id, job.name]));
  // Others cannot list users: offer themselves and the people on this page.
  const people = new Map(users.map((u) => [u.id, u.username]));
  people.set(me.id, me.username);
  for (const entry of reply.data) if (entry.user_id) people.set(entry.user_id, entry.username);
  const refilter = (name) => (event) => {
    const params = new URLSearchParams({...filters, [name]: event.target.value});
    for (const [key, value] of [...params]) if (!value) params.delete(key);
    ctx.navigate(`#/activity?${params}`);
  };
  const bar = h("form", {class: "inline-form filters", "aria-label": "Filters",
    onsubmit: (event) => event.preventDefault()},
  select("activity-job", "Job", [["", "All jobs"], ...jobs.map((j) => [j.id, j.name])],
    filters.fetch_id, refilter("fetch_id")),
  select("activity-user", "User", [["", "Everyone"], ...[...people].map(([id, name]) =>
    [id, id === me.id ? `${name} (you)` : name])], filters.user_id, refilter("user_id")),
  select("activity-action", "Action", [["", "Any action"], ...ACTIONS.map((a) => [a, a])],
    filters.action, refilter("action")));
  const total = reply.total ?? reply.data.length;
  const items = reply.data.map((entry) => {
    const name = entry.fetch_id ? jobNames.get(entry.fetch_id) : null;
    const jobLabel = entry.fetch_id ? `job “${name || `#${entry.fetch_id}`}”` : null;
    const item = entryItem(entry, jobLabel);
    if (entry.fetch_id && name) {
      item.append(" · ", h("a", {href: `#/jobs/${entry.fetch_id}`}, "open job"));
    }
    return item;
  });
  return h("section", {},
    h("h1", {}, "Activity"),
    h("p", {class: "muted"}, me.is_superuser ? "Everything that changed, newest first."
      : "Changes to your jobs and your own actions, newest first."),
    bar,
    items.length ? h("ul", {class: "activity card"}, items)
      : h("p", {class: "empty card"}, "No activity matches these filters."),
    total > limit ? pager({base: "/activity", query: filters, limit, offset, total,
      label: "Entries"}) : null);
}
