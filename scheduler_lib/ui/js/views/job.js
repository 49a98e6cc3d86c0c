// One job: its settings, the buttons to run / pause / edit / delete it, its recent
// results (refreshed while the page is open), its members with their roles, and
// who did what to it lately (views/activity.js). Attempts in flight are shown
// apart, on a "Running now" line (the API lists them only with ?status=running),
// never as failures.

import {api, currentUser} from "../api.js";
import {
  errorBox, field, fill, formatDuration, formatTime, h, lateness, pretty, scheduleWords,
  statusPill, timeEl,
} from "../dom.js";
import {confirmed, pageOf, pager} from "../parts.js";
import {errorText, rulesList} from "../rules.js";
import {notificationsSection} from "./notifications.js";
import {recentActivity} from "./activity.js";

const ROLES = ["owner", "editor", "viewer"];
const RESULTS_REFRESH_MS = 3000;

function dl(pairs) {
  return h("dl", {class: "settings"}, pairs.flatMap(([term, value]) => [
    h("dt", {}, term), h("dd", {}, value === null || value === undefined || value === ""
      ? h("span", {class: "muted"}, "—") : value)]));
}

async function optional(promise) {
  try {
    return (await promise).data;
  } catch {
    return null;
  }
}

function resultRow(result) {
  const inFlight = Boolean(result.started_at) && !result.finished_at;
  const late = lateness(result);
  const body = pretty(result.response);
  const headers = result.response_headers && Object.keys(result.response_headers).length
    ? pretty(result.response_headers) : "";
  const details = body || headers ? h("details", {},
    h("summary", {}, result.response_truncated ? "Response (truncated)" : "Response"),
    headers ? h("pre", {class: "headers", tabindex: "0", "aria-label": "Response headers"}, headers)
      : null,
    body ? h("pre", {tabindex: "0", "aria-label": "Response body"}, body) : null)
    : h("span", {class: "muted"}, "—");
  return h("tr", {"data-result-id": result.id, class: inFlight ? "in-flight" : null},
    h("td", {"data-label": "When"}, h("time", {datetime: result.created_at},
      formatTime(result.started_at || result.created_at))),
    h("td", {"data-label": "Outcome"},
      statusPill(inFlight ? "running" : result.success ? "success" : "failure")),
    h("td", {"data-label": "Status code"}, result.status_code ?? "—"),
    h("td", {"data-label": "Attempt"}, result.attempt ?? "—"),
    h("td", {"data-label": "Duration"}, formatDuration(result.duration_ms)),
    h("td", {"data-label": "Lateness"}, late === null ? "—" : formatDuration(late)),
    result.error ? h("td", {"data-label": "Error", class: "error-text"}, errorText(result.error))
      : h("td", {"data-label": "Error", class: "muted"}, "—"),
    h("td", {"data-label": "Response", class: "response"}, details));
}

function runningLine(attempts) {
  if (!attempts.length) return null;
  const since = attempts.map((a) => a.started_at).sort()[0];
  return [h("strong", {}, `Running now, since ${formatTime(since)}`),
    h("ul", {}, attempts.map((a) => h("li", {"data-result-id": a.id},
      `Attempt ${a.attempt} of run `, h("code", {}, a.job_id),
      ` running since ${formatTime(a.started_at)}`)))];
}

// The results, refreshed every few seconds with the job itself: ``onJob`` gets the
// fresh job (its next run id moves on as runs start).
function resultsSection(ctx, job, onJob) {
  const {limit, offset} = pageOf(ctx.query, 20);
  const status = ["success", "failure", "running"].includes(ctx.query.status)
    ? ctx.query.status : "";
  const errors = errorBox();
  const tbody = h("tbody");
  const pagerSlot = h("div");
  const filter = h("select", {id: "results-status", onchange: (event) => {
    const params = new URLSearchParams({status: event.target.value});
    ctx.navigate(`#/jobs/${job.id}?${params}`);
  }}, [["", "All finished"], ["success", "Succeeded"], ["failure", "Failed"],
    ["running", "Running now"]].map(([value, text]) =>
    h("option", {value, selected: value === status}, text)));
  const summary = h("p", {class: "muted", "aria-live": "polite"});
  const running = h("div", {class: "running-now", id: "running-now", "aria-live": "polite",
    hidden: true});
  async function load() {
    try {
      const [reply, inFlight, fresh] = await Promise.all([
        api("GET", `/fetch/${job.id}/data`, {query: {limit, offset, status: status || undefined}}),
        api("GET", `/fetch/${job.id}/data`, {query: {status: "running", limit: 20}}),
        api("GET", `/fetch/${job.id}`),
      ]);
      if (!ctx.isCurrent()) return;
      errors.clear();
      fill(running, runningLine(inFlight.data));
      running.hidden = !inFlight.data.length;
      onJob(fresh.data);
      const open = new Set([...tbody.querySelectorAll("details[open]")].map((d) =>
        d.closest("tr").dataset.resultId));
      fill(tbody, reply.data.length ? reply.data.map(resultRow)
        : h("tr", {}, h("td", {colspan: "8", class: "muted"}, "No results yet.")));
      for (const id of open) {
        const details = tbody.querySelector(`tr[data-result-id="${id}"] details`);
        if (details) details.open = true;
      }
      const total = reply.total ?? reply.data.length;
      fill(summary, `${total.toLocaleString()} result${total === 1 ? "" : "s"}`);
      fill(pagerSlot, total > limit ? pager({base: `/jobs/${job.id}`,
        query: status ? {status} : {}, limit, offset, total, label: "Results"}) : null);
    } catch (error) {
      errors.show(error);
    }
  }
  load();
  const timer = setInterval(() => {
    if (!document.hidden && offset === 0 && !tbody.contains(document.activeElement)) load();
  }, RESULTS_REFRESH_MS);
  ctx.onCleanup(() => clearInterval(timer));
  const section = h("section", {class: "card", "aria-labelledby": "results-title"},
    h("div", {class: "title-row"}, h("h2", {id: "results-title"}, "Recent results"),
      h("div", {class: "field inline"}, h("label", {for: filter.id}, "Show"), filter)),
    running, summary, errors.el,
    h("div", {class: "table-wrap"}, h("table", {class: "cards results"},
      h("thead", {}, h("tr", {}, ["When", "Outcome", "Status code", "Attempt", "Duration",
        "Lateness", "Error", "Response"].map((t) => h("th", {scope: "col"}, t)))),
      tbody)),
    pagerSlot);
  return {section, reload: load};
}

function membersSection(ctx, job, members, isOwner) {
  const errors = errorBox();
  const me = currentUser();
  const rows = members.map((member) => {
    const who = member.user_id === me.id ? `${member.username} (you)` : member.username;
    let roleCell = member.role;
    let actions = null;
    if (isOwner) {
      roleCell = h("select", {"aria-label": `Role of ${who}`, onchange: async (event) => {
        errors.clear();
        try {
          await api("PATCH", `/fetch/${job.id}/member/${member.user_id}`,
            {body: {role: event.target.value}});
          ctx.flash(`${who} is now ${event.target.value}.`);
        } catch (error) {
          event.target.value = member.role;
          errors.show(error);
        }
      }}, ROLES.map((role) => h("option", {value: role, selected: role === member.role}, role)));
      actions = h("button", {type: "button", class: "btn danger small", onclick: async () => {
        if (!confirmed(`Remove ${who} from this job?`)) return;
        try {
          await api("DELETE", `/fetch/${job.id}/member/${member.user_id}`);
          ctx.flash(`${who} removed.`, {later: true});
          ctx.navigate(`#/jobs/${job.id}`);
        } catch (error) {
          errors.show(error);
        }
      }}, "Remove");
    }
    return h("tr", {}, h("td", {"data-label": "User"}, who), h("td", {"data-label": "Role"}, roleCell),
      isOwner ? h("td", {"data-label": ""}, actions) : null);
  });
  let addForm = null;
  if (isOwner) {
    const username = h("input", {type: "text", required: true, name: "username",
      autocomplete: "off", maxlength: "254"});
    const role = h("select", {name: "role"}, ROLES.map((r) => h("option", {value: r,
      selected: r === "viewer"}, r)));
    addForm = h("form", {class: "inline-form", onsubmit: async (event) => {
      event.preventDefault();
      errors.clear();
      try {
        await api("POST", `/fetch/${job.id}/member`,
          {body: {username: username.value.trim(), role: role.value}});
        ctx.flash("Member added.", {later: true});
        ctx.navigate(`#/jobs/${job.id}`);
      } catch (error) {
        errors.show(error);
      }
    }}, field("Username or e-mail", username, "The teammate to add to this job."),
    field("Role", role), h("div", {class: "actions"}, h("button", {type: "submit", class: "btn"},
      "Add member")));
  }
  return h("section", {class: "card", "aria-labelledby": "members-title"},
    h("h2", {id: "members-title"}, "Members and roles"),
    h("p", {class: "muted"}, "Owners can do everything, editors can change and run the job, "
      + "viewers can only look."),
    errors.el,
    h("table", {class: "cards members"}, h("thead", {}, h("tr", {},
      h("th", {scope: "col"}, "User"), h("th", {scope: "col"}, "Role"),
      isOwner ? h("th", {scope: "col"}, h("span", {class: "visually-hidden"}, "Actions")) : null)),
    h("tbody", {}, rows)),
    addForm);
}

export async function render(ctx) {
  const id = Number(ctx.params[0]);
  const me = currentUser();
  const [jobReply, membersReply] = await Promise.all([
    api("GET", `/fetch/${id}`), api("GET", `/fetch/${id}/member`, {query: {limit: 1000}}),
  ]);
  const job = jobReply.data;
  const members = membersReply.data;
  const myRole = (members.find((m) => m.user_id === me.id) || {}).role;
  const isOwner = me.is_superuser || myRole === "owner";
  const canEdit = isOwner || myRole === "editor";
  const [schedule, preset] = await Promise.all([
    optional(api("GET", `/fetch/execute/${job.execute_id}`)),
    job.header_id ? optional(api("GET", `/fetch/header/${job.header_id}`)) : null,
  ]);
  const errors = errorBox();
  const nextRunId = h("code", {id: "next-run-id"}, job.job_id);
  const titlePill = h("span", {}, statusPill(job.running ? "running" : job.last_status));
  const results = resultsSection(ctx, job, (fresh) => {
    fill(nextRunId, fresh.job_id);
    fill(titlePill, statusPill(fresh.running ? "running" : fresh.last_status));
  });
  const activeButton = h("button", {type: "button", class: "btn secondary", "data-action": "toggle"},
    job.is_active ? "Pause" : "Resume");
  activeButton.addEventListener("click", async () => {
    errors.clear();
    activeButton.disabled = true;
    try {
      const reply = await api("PATCH", `/fetch/${id}`, {body: {is_active: !job.is_active}});
      ctx.flash(reply.data.is_active ? "Job resumed." : "Job paused.", {later: true});
      ctx.navigate(`#/jobs/${id}`);
    } catch (error) {
      errors.show(error);
      activeButton.disabled = false;
    }
  });
  const runButton = h("button", {type: "button", class: "btn", "data-action": "run"}, "Run now");
  runButton.addEventListener("click", async () => {
    errors.clear();
    runButton.disabled = true;
    try {
      const reply = await api("POST", `/fetch/${id}/run`);
      ctx.flash(`${reply.message}: the result will appear below (run ${reply.data.job_id}).`);
      setTimeout(results.reload, 500);
    } catch (error) {
      errors.show(error);
    } finally {
      runButton.disabled = false;
    }
  });
  const deleteButton = h("button", {type: "button", class: "btn danger"}, "Delete");
  deleteButton.addEventListener("click", async () => {
    if (!confirmed(`Delete the job “${job.name}” and all its results?`)) return;
    try {
      await api("DELETE", `/fetch/${id}`);
      ctx.flash(`Job “${job.name}” deleted.`, {later: true});
      ctx.navigate("#/jobs");
    } catch (error) {
      errors.show(error);
    }
  });
  const scheduleText = schedule
    ? h("a", {href: `#/schedules/${schedule.id}`}, `${schedule.name}: ${scheduleWords(schedule)}`)
    : `schedule #${job.execute_id}`;
  const settings = dl([
    ["Type", job.type],
    ["Endpoint", h("code", {class: "wrap"}, `${job.type === "rest" ? job.method.toUpperCase() + " " : ""}`
      + job.endpoint)],
    ["Schedule", scheduleText],
    ["Header preset", job.header_id ? (preset ? preset.name : `preset #${job.header_id}`) : null],
    ["Active", job.is_active ? "yes" : "no (paused)"],
    ["Last status", statusPill(job.last_status)],
    ["Last run", job.last_run_at ? [timeEl(job.last_run_at), ` (${formatTime(job.last_run_at)})`] : null],
    ["Next run", job.is_active && job.next_run_at
      ? [timeEl(job.next_run_at), ` (${formatTime(job.next_run_at)})`] : null],
    ["Timeout", `${job.timeout_seconds} s`],
    ["Attempts", `${job.max_attempts} (backoff ${job.retry_backoff_seconds} s, doubling)`],
    ["Expected status", (job.expected_status || []).join(", ")],
    ["Success rules", rulesList(job.assertions)],
    ["Failed runs in a row", String(job.consecutive_failures)],
    ["Alert after", `${job.alert_after_failures} failed run(s) in a row`],
    ["Pause after", job.pause_after_failures ? `${job.pause_after_failures} failed runs in a row`
      : "never"],
    ["Topic", job.topic],
    ["Description", job.description],
    ["Payload", job.payload ? h("pre", {tabindex: "0"}, pretty(job.payload)) : null],
    ["Next run id", nextRunId],
    ["Your role", me.is_superuser && !myRole ? "superuser" : myRole],
    ["Created", formatTime(job.created_at)],
    ["Updated", formatTime(job.updated_at)],
  ]);
  const notifications = await notificationsSection(ctx, job, isOwner);
  return h("section", {},
    h("p", {class: "crumbs"}, h("a", {href: "#/jobs"}, "← All jobs")),
    h("div", {class: "title-row"}, h("h1", {}, job.name), titlePill),
    h("div", {class: "toolbar"},
      canEdit ? runButton : null, canEdit ? activeButton : null,
      canEdit ? h("a", {class: "btn secondary", href: `#/jobs/${id}/edit`}, "Edit") : null,
      isOwner ? deleteButton : null),
    errors.el,
    h("div", {class: "columns"},
      h("section", {class: "card", "aria-labelledby": "settings-title"},
        h("h2", {id: "settings-title"}, "Settings"), settings),
      membersSection(ctx, job, members, isOwner)),
    notifications,
    results.section,
    recentActivity(job));
}
