// The jobs list: what ran, what failed, what runs next, a page at a time
// (limit/offset and X-Total-Count, so 1,000 jobs are 40 light pages).

import {api, currentUser} from "../api.js";
import {errorBox, fill, h, scheduleWords, statusPill, timeEl} from "../dom.js";
import {eachLimited, mapOf, pageOf, pager, sparkline} from "../parts.js";

const REFRESH_MS = 10000;
const SPARK_RUNS = 20;

function activeToggle(job, row, errors) {
  const input = h("input", {type: "checkbox", role: "switch", checked: job.is_active,
    "aria-label": `Active: ${job.name}`, class: "switch"});
  input.addEventListener("change", async () => {
    errors.clear();
    input.disabled = true;
    try {
      const reply = await api("PATCH", `/fetch/${job.id}`, {body: {is_active: input.checked}});
      fill(row.querySelector("[data-cell=next]"), nextRun(reply.data));
    } catch (error) {
      input.checked = !input.checked;
      errors.show(error);
    } finally {
      input.disabled = false;
    }
  });
  return input;
}

function nextRun(job) {
  if (!job.is_active) return h("span", {class: "muted"}, "paused");
  return timeEl(job.next_run_at);
}

function jobRow(job, schedules, errors) {
  const schedule = schedules.get(job.execute_id);
  const row = h("tr", {"data-job-id": job.id});
  const method = job.type === "rest" ? `${(job.method || "get").toUpperCase()} ` : "";
  row.append(
    h("th", {scope: "row", "data-label": "Name"}, h("a", {href: `#/jobs/${job.id}`}, job.name)),
    h("td", {"data-label": "Type"}, job.type),
    h("td", {"data-label": "Endpoint", class: "endpoint"},
      h("code", {title: job.endpoint}, `${method}${job.endpoint}`)),
    h("td", {"data-label": "Schedule"},
      schedule ? scheduleWords(schedule) : `schedule #${job.execute_id}`),
    h("td", {"data-label": "Active"}),
    h("td", {"data-label": "Last status", "data-cell": "status"}, statusPill(job.last_status)),
    h("td", {"data-label": "Last run"}, timeEl(job.last_run_at)),
    h("td", {"data-label": "Next run", "data-cell": "next"}, nextRun(job)),
    h("td", {"data-label": "Recent runs", "data-cell": "spark"}, h("span", {class: "muted"}, "…")));
  row.children[4].append(activeToggle(job, row, errors));
  return row;
}

async function loadSparklines(jobs, tbody, isCurrent) {
  await eachLimited(jobs, 4, async (job) => {
    if (!isCurrent()) return;
    const cell = tbody.querySelector(`tr[data-job-id="${job.id}"] [data-cell=spark]`);
    try {
      const reply = await api("GET", `/fetch/${job.id}/data`, {query: {limit: SPARK_RUNS}});
      if (cell) fill(cell, sparkline(reply.data));
    } catch (error) {
      if (cell) fill(cell, h("span", {class: "muted", title: error.message}, "unavailable"));
    }
  });
}

export async function render(ctx) {
  const user = currentUser();
  const everyone = Boolean(user && user.is_superuser && ctx.query.all === "true");
  const {limit, offset} = pageOf(ctx.query);
  const scope = everyone ? {all: "true"} : {};
  const errors = errorBox();
  const [reply, schedules] = await Promise.all([
    api("GET", "/fetch", {query: {limit, offset, ...scope}}),
    mapOf("/fetch/execute", scope).catch(() => new Map()),
  ]);
  const jobs = reply.data;
  const total = reply.total ?? jobs.length;
  const tbody = h("tbody", {}, jobs.map((job) => jobRow(job, schedules, errors)));
  const table = h("table", {class: "cards jobs"},
    h("caption", {class: "visually-hidden"}, "Jobs"),
    h("thead", {}, h("tr", {},
      ["Name", "Type", "Endpoint", "Schedule", "Active", "Last status", "Last run", "Next run",
        "Recent runs"].map((title) => h("th", {scope: "col"}, title)))),
    tbody);
  const allToggle = user && user.is_superuser ? h("div", {class: "field check inline-check"},
    h("input", {type: "checkbox", id: "jobs-all", checked: everyone, onchange: (event) => {
      const params = new URLSearchParams({all: event.target.checked ? "true" : "false"});
      ctx.navigate(`#/jobs?${params}`);
    }}), h("label", {for: "jobs-all"}, "Show everyone's jobs")) : null;
  const base = {base: "/jobs", query: everyone ? {all: "true"} : {}, limit, offset, total,
    label: "Jobs"};
  const empty = total === 0 ? h("div", {class: "empty card"},
    h("p", {}, "No jobs yet. A job calls an endpoint on a schedule and keeps every result."),
    h("p", {}, "Start with ", h("a", {href: "#/schedules/new"}, "a schedule"), ", then ",
      h("a", {href: "#/jobs/new"}, "a job"), ".")) : null;
  loadSparklines(jobs, tbody, ctx.isCurrent);
  const timer = setInterval(async () => {
    if (document.hidden || tbody.contains(document.activeElement)) return;
    try {
      const fresh = await api("GET", "/fetch", {query: {limit, offset, ...scope}});
      if (!ctx.isCurrent()) return;
      fill(tbody, fresh.data.map((job) => jobRow(job, schedules, errors)));
      loadSparklines(fresh.data, tbody, ctx.isCurrent);
    } catch (error) {
      errors.show(error);
    }
  }, REFRESH_MS);
  ctx.onCleanup(() => clearInterval(timer));
  return h("section", {},
    h("div", {class: "title-row"}, h("h1", {}, "Jobs"),
      h("a", {class: "btn", href: "#/jobs/new"}, "New job")),
    allToggle, errors.el, empty,
    total ? h("div", {class: "table-wrap"}, table) : null,
    total ? pager(base) : null);
}
