// Schedules: the list, and the form (interval or cron in a time zone) with a live
// preview of the next five run times from GET /fetch/execute/preview.

import {api, currentUser} from "../api.js";
import {checkbox, debounce, errorBox, field, fill, formatTime, h, scheduleWords} from "../dom.js";
import {confirmed, pageOf, pager} from "../parts.js";

const TYPES = [["seconds", "Every N seconds"], ["minutes", "Every N minutes"],
  ["hours", "Every N hours"], ["days", "Every N days"], ["cron", "Cron expression"]];
const PREVIEW_COUNT = 5;

function zones() {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return ["UTC"];
  }
}

export async function renderList(ctx) {
  const user = currentUser();
  const everyone = Boolean(user.is_superuser && ctx.query.all === "true");
  const {limit, offset} = pageOf(ctx.query, 50);
  const reply = await api("GET", "/fetch/execute",
    {query: {limit, offset, all: everyone ? "true" : undefined}});
  const errors = errorBox();
  const total = reply.total ?? reply.data.length;
  const rows = reply.data.map((s) => h("tr", {},
    h("th", {scope: "row", "data-label": "Name"}, h("a", {href: `#/schedules/${s.id}`}, s.name)),
    h("td", {"data-label": "When"}, scheduleWords(s)),
    h("td", {"data-label": "Time zone"}, s.timezone),
    h("td", {"data-label": "Repeats"}, s.is_repeat ? "yes" : "once"),
    h("td", {"data-label": "Updated"}, formatTime(s.updated_at)),
    h("td", {"data-label": ""}, h("button", {type: "button", class: "btn danger small",
      "aria-label": `Delete schedule ${s.name}`, onclick: async () => {
        if (!confirmed(`Delete the schedule “${s.name}”?`)) return;
        errors.clear();
        try {
          await api("DELETE", `/fetch/execute/${s.id}`);
          ctx.flash(`Schedule “${s.name}” deleted.`, {later: true});
          ctx.navigate("#/schedules");
        } catch (error) {
          errors.show(error);
        }
      }}, "Delete"))));
  return h("section", {},
    h("div", {class: "title-row"}, h("h1", {}, "Schedules"),
      h("a", {class: "btn", href: "#/schedules/new"}, "New schedule")),
    h("p", {class: "muted"}, "A schedule says when a job runs; several jobs can share one."),
    user.is_superuser ? h("div", {class: "field check inline-check"},
      h("input", {type: "checkbox", id: "schedules-all", checked: everyone,
        onchange: (e) => ctx.navigate(`#/schedules?all=${e.target.checked}`)}),
      h("label", {for: "schedules-all"}, "Show everyone's schedules")) : null,
    errors.el,
    total ? h("div", {class: "table-wrap"}, h("table", {class: "cards"},
      h("thead", {}, h("tr", {}, ["Name", "When", "Time zone", "Repeats", "Updated"].map((t) =>
        h("th", {scope: "col"}, t)), h("th", {scope: "col"}, h("span", {class: "visually-hidden"},
        "Actions")))),
      h("tbody", {}, rows))) : h("p", {class: "empty card"}, "No schedules yet."),
    total > limit ? pager({base: "/schedules", query: everyone ? {all: "true"} : {}, limit, offset,
      total, label: "Schedules"}) : null);
}

export async function renderForm(ctx) {
  const editing = ctx.params.length > 0;
  const id = editing ? Number(ctx.params[0]) : null;
  const original = editing ? (await api("GET", `/fetch/execute/${id}`)).data
    : {name: "", type: "minutes", value: 5, cron: "", timezone: "UTC", is_repeat: true};
  const errors = errorBox();
  const name = h("input", {name: "name", required: true, maxlength: "255", value: original.name});
  const type = h("select", {name: "type"}, TYPES.map(([value, text]) =>
    h("option", {value, selected: value === original.type}, text)));
  const value = h("input", {name: "value", type: "number", min: "1", step: "1",
    value: original.value === null || original.value === undefined ? "" : String(original.value)});
  const cron = h("input", {name: "cron", class: "mono", placeholder: "*/15 * * * *",
    value: original.cron || "", autocapitalize: "none", spellcheck: "false"});
  const zoneList = h("datalist", {id: "zone-list"}, zones().map((z) => h("option", {value: z})));
  const timezone = h("input", {name: "timezone", list: "zone-list", value: original.timezone || "UTC",
    autocapitalize: "none", spellcheck: "false"});
  const repeat = checkbox("Repeat (unchecked: run once)", {name: "is_repeat", checked: original.is_repeat});
  const valueField = field("Every how many", value);
  const cronField = field("Cron expression", cron,
    "minute hour day-of-month month day-of-week, e.g. 30 9 * * 1-5, or @hourly, @daily, @weekly.");
  const preview = h("ol", {class: "preview"});
  const previewNote = h("p", {class: "muted", "aria-live": "polite"});
  const words = h("p", {class: "words"});

  function body() {
    const isCron = type.value === "cron";
    const result = {name: name.value.trim(), type: type.value, timezone: timezone.value.trim() || "UTC",
      is_repeat: repeat.input.checked};
    if (isCron) result.cron = cron.value.trim();
    else result.value = Number(value.value);
    return result;
  }

  const refreshPreview = debounce(async () => {
    const b = body();
    fill(words, scheduleWords(b));
    const query = {type: b.type, timezone: b.timezone, count: PREVIEW_COUNT};
    if (b.type === "cron") query.cron = b.cron;
    else query.value = value.value;
    if ((b.type === "cron" && !b.cron) || (b.type !== "cron" && !value.value)) {
      fill(preview);
      fill(previewNote, "Fill in the schedule to see its next run times.");
      return;
    }
    try {
      const reply = await api("GET", "/fetch/execute/preview", {query});
      const times = Array.isArray(reply.data) ? reply.data
        : reply.data.next_runs || reply.data.runs || reply.data.times || [];
      fill(previewNote, `Next ${times.length} run times, in ${b.timezone} (and your local time), `
        + "if a job used this schedule from now:");
      fill(preview, times.map((t) => h("li", {}, h("time", {datetime: t}, formatTime(t, b.timezone)),
        h("span", {class: "muted"}, ` — ${formatTime(t)} local`))));
    } catch (error) {
      fill(preview);
      fill(previewNote, h("span", {class: "error-text"}, error.message));
    }
  }, 250);

  const sync = () => {
    const isCron = type.value === "cron";
    valueField.hidden = isCron;
    cronField.hidden = !isCron;
    refreshPreview();
  };
  for (const input of [type, value, cron, timezone, repeat.input]) {
    input.addEventListener("input", sync);
    input.addEventListener("change", sync);
  }
  sync();
  const submit = h("button", {type: "submit", class: "btn"}, editing ? "Save changes" : "Create schedule");
  const form = h("form", {class: "card", novalidate: true},
    errors.el,
    h("div", {class: "grid"}, field("Name", name), field("Kind", type), valueField, cronField,
      field("Time zone", timezone, "An IANA name such as Europe/Paris; cron runs in it."), zoneList),
    repeat.el,
    h("section", {class: "preview-box", "aria-labelledby": "preview-title"},
      h("h2", {id: "preview-title"}, "Preview"), words, previewNote, preview),
    h("div", {class: "actions"}, submit, h("a", {class: "btn secondary", href: "#/schedules"}, "Cancel")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    const b = body();
    if (!b.name) {
      errors.show("Name: give the schedule a name.");
      name.focus();
      return;
    }
    submit.disabled = true;
    try {
      const reply = editing ? await api("PATCH", `/fetch/execute/${id}`, {body: b})
        : await api("POST", "/fetch/execute", {body: b});
      ctx.flash(`${reply.message} (${reply.data.name}: ${scheduleWords(reply.data)})`, {later: true});
      ctx.navigate("#/schedules");
    } catch (error) {
      errors.show(error);
    } finally {
      submit.disabled = false;
    }
  });
  return h("section", {},
    h("p", {class: "crumbs"}, h("a", {href: "#/schedules"}, "← All schedules")),
    h("h1", {}, editing ? `Edit schedule ${original.name}` : "New schedule"), form);
}
