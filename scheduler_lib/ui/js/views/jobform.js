// Create or edit a job: endpoint, method, schedule, header preset, payload, retries,
// success rules.

import {api} from "../api.js";
import {checkbox, errorBox, field, h, scheduleWords} from "../dom.js";
import {listAll} from "../parts.js";
import {rulesEditor} from "../rules.js";

const METHODS = ["get", "post", "put", "patch", "delete"];

/** "2xx, 301" → ["2xx", 301]; throws with a sentence on a bad entry. */
export function parseExpected(text) {
  const items = text.split(/[\s,]+/).filter(Boolean);
  if (!items.length) throw new Error("Expected status: give at least one code or class, e.g. 2xx.");
  return items.map((item) => {
    if (/^[1-5]xx$/i.test(item)) return item.toLowerCase();
    if (/^\d{3}$/.test(item) && Number(item) >= 100 && Number(item) <= 599) return Number(item);
    throw new Error(`Expected status: “${item}” is not a status code (100–599) or a class like 2xx.`);
  });
}

function intOrError(input, label) {
  const value = Number(input.value);
  if (!Number.isInteger(value)) throw new Error(`${label} must be a whole number.`);
  return value;
}

export async function render(ctx) {
  const editing = ctx.params.length > 0;
  const id = editing ? Number(ctx.params[0]) : null;
  const [job, schedules, presets] = await Promise.all([
    editing ? api("GET", `/fetch/${id}`).then((r) => r.data) : null,
    listAll("/fetch/execute"),
    listAll("/fetch/header"),
  ]);
  const original = job || {type: "rest", method: "get", is_active: true, timeout_seconds: 10,
    max_attempts: 1, retry_backoff_seconds: 5, expected_status: ["2xx"], assertions: [],
    description: "", alert_after_failures: 1, pause_after_failures: 0,
    execute_id: schedules.length ? schedules[0].id : null, header_id: null, payload: null,
    topic: null};
  const errors = errorBox();
  const name = h("input", {name: "name", required: true, maxlength: "255", value: original.name || ""});
  const type = h("select", {name: "type"}, [["rest", "REST (HTTP)"], ["websocket", "WebSocket"]]
    .map(([value, text]) => h("option", {value, selected: value === original.type}, text)));
  const method = h("select", {name: "method"}, METHODS.map((m) =>
    h("option", {value: m, selected: m === original.method}, m.toUpperCase())));
  const endpoint = h("input", {name: "endpoint", type: "url", required: true,
    placeholder: "https://example.com/hook", value: original.endpoint || ""});
  const scheduleOptions = schedules.map((s) => h("option", {value: String(s.id),
    selected: s.id === original.execute_id}, `${s.name} — ${scheduleWords(s)}`));
  if (job && !schedules.some((s) => s.id === job.execute_id)) {
    scheduleOptions.unshift(h("option", {value: String(job.execute_id), selected: true},
      `schedule #${job.execute_id} (not yours)`));
  }
  const schedule = h("select", {name: "execute_id", required: true}, scheduleOptions);
  const presetOptions = [h("option", {value: ""}, "None"), ...presets.map((p) =>
    h("option", {value: String(p.id), selected: p.id === original.header_id}, p.name))];
  if (job && job.header_id && !presets.some((p) => p.id === job.header_id)) {
    presetOptions.push(h("option", {value: String(job.header_id), selected: true},
      `preset #${job.header_id} (not yours)`));
  }
  const preset = h("select", {name: "header_id"}, presetOptions);
  const description = h("textarea", {name: "description", rows: "2", value: original.description || ""});
  const payload = h("textarea", {name: "payload", rows: "4", class: "mono",
    value: original.payload ?? "", placeholder: "{\"hello\": \"world\"}"});
  const topic = h("input", {name: "topic", value: original.topic ?? ""});
  const timeout = h("input", {name: "timeout_seconds", type: "number", min: "1", max: "300",
    value: String(original.timeout_seconds)});
  const attempts = h("input", {name: "max_attempts", type: "number", min: "1", max: "10",
    value: String(original.max_attempts)});
  const backoff = h("input", {name: "retry_backoff_seconds", type: "number", min: "0",
    value: String(original.retry_backoff_seconds)});
  const alertAfter = h("input", {name: "alert_after_failures", type: "number", min: "1",
    max: "1000", value: String(original.alert_after_failures)});
  const pauseAfter = h("input", {name: "pause_after_failures", type: "number", min: "0",
    max: "1000", value: String(original.pause_after_failures)});
  const expected = h("input", {name: "expected_status",
    value: (original.expected_status || []).join(", ")});
  const rules = rulesEditor(original.assertions);
  const active = checkbox("Active (runs on its schedule)", {name: "is_active", checked: original.is_active});
  const methodField = field("Method", method);
  const syncType = () => { methodField.hidden = type.value !== "rest"; };
  type.addEventListener("change", syncType);
  syncType();
  const submit = h("button", {type: "submit", class: "btn"}, editing ? "Save changes" : "Create job");

  function collect() {
    const body = {
      name: name.value.trim(), type: type.value, endpoint: endpoint.value.trim(),
      execute_id: Number(schedule.value), header_id: preset.value ? Number(preset.value) : null,
      description: description.value, payload: payload.value === "" ? null : payload.value,
      topic: topic.value === "" ? null : topic.value,
      timeout_seconds: intOrError(timeout, "Timeout"), max_attempts: intOrError(attempts, "Attempts"),
      retry_backoff_seconds: intOrError(backoff, "Retry backoff"),
      alert_after_failures: intOrError(alertAfter, "Alert after"),
      pause_after_failures: intOrError(pauseAfter, "Pause after"),
      expected_status: parseExpected(expected.value), assertions: rules.collect(),
      is_active: active.input.checked,
    };
    if (body.type === "rest") body.method = method.value;
    if (!body.name) throw new Error("Name: give the job a name.");
    if (!body.endpoint) throw new Error("Endpoint: give the URL to call.");
    if (!schedule.value) throw new Error("Schedule: create a schedule first.");
    if (!editing) {
      for (const key of ["header_id", "payload", "topic"]) if (body[key] === null) delete body[key];
      return body;
    }
    // Send only what changed: an editor may keep a schedule that is not theirs.
    return Object.fromEntries(Object.entries(body).filter(([key, value]) =>
      JSON.stringify(value) !== JSON.stringify(original[key] ?? null)));
  }

  const form = h("form", {class: "card", novalidate: true},
    errors.el,
    h("div", {class: "grid"},
      field("Name", name),
      field("Type", type),
      methodField,
      field("Endpoint URL", endpoint, "http:// or https:// for REST, ws:// or wss:// for WebSocket."),
      field("Schedule", schedule, schedules.length ? null : "You have no schedules yet."),
      field("Header preset", preset)),
    field("Description", description),
    field("Payload", payload, "Sent as the request body (REST) or as one message (WebSocket)."),
    h("details", {class: "advanced"}, h("summary", {}, "Retries, timeout and more"),
      h("div", {class: "grid"},
        field("Timeout (seconds)", timeout),
        field("Attempts", attempts, "1 means no retry; at most 10."),
        field("Retry backoff (seconds)", backoff, "Doubles after each failed attempt."),
        field("Expected status", expected, "Codes or classes that count as success: 2xx, 301."),
        field("Topic", topic)),
      h("div", {class: "grid"},
        field("Alert after (failed runs in a row)", alertAfter,
          "Subscribed channels hear “failure” once per streak, at this many."),
        field("Pause after (failed runs in a row)", pauseAfter, "0 never pauses the job."))),
    rules.el,
    active.el,
    h("div", {class: "actions"}, submit,
      h("a", {class: "btn secondary", href: editing ? `#/jobs/${id}` : "#/jobs"}, "Cancel")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    let body;
    try {
      body = collect();
    } catch (error) {
      errors.show(error);
      return;
    }
    if (editing && !Object.keys(body).length) {
      ctx.flash("Nothing changed.", {later: true});
      ctx.navigate(`#/jobs/${id}`);
      return;
    }
    submit.disabled = true;
    try {
      const reply = editing ? await api("PATCH", `/fetch/${id}`, {body})
        : await api("POST", "/fetch", {body});
      ctx.flash(`${reply.message} (${reply.data.name})`, {later: true});
      ctx.navigate(`#/jobs/${reply.data.id}`);
    } catch (error) {
      errors.show(error);
      errors.el.scrollIntoView({block: "center"});
    } finally {
      submit.disabled = false;
    }
  });
  const noSchedules = schedules.length || editing ? null : h("p", {class: "notice"},
    "A job needs a schedule. ", h("a", {href: "#/schedules/new"}, "Create a schedule first."));
  return h("section", {},
    h("p", {class: "crumbs"}, h("a", {href: editing ? `#/jobs/${id}` : "#/jobs"}, "← Back")),
    h("h1", {}, editing ? `Edit ${job.name}` : "New job"), noSchedules, form);
}
