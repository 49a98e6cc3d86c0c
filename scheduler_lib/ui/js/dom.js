// Small DOM and formatting helpers shared by every view. Text always goes in as
// text nodes, never as HTML, so nothing the API returns can inject markup.

/** Creates an element: h("a", {href: "#/jobs", class: "btn"}, "Jobs"). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "for") {
      el.htmlFor = value;
    } else if (key === "value" && (tag === "input" || tag === "textarea" || tag === "select")) {
      el.value = value;
    } else if (key === "checked" || key === "selected" || key === "disabled") {
      el[key] = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of ``el``. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let idCounter = 0;
/** A unique element id for label/field pairs. */
export function uid(prefix = "f") {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** A labelled form field; ``control`` is an input/select/textarea element. */
export function field(label, control, hint) {
  const id = control.id || uid();
  control.id = id;
  const hintEl = hint ? h("p", {class: "hint", id: `${id}-hint`}, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", {class: "field"}, h("label", {for: id}, label), control, hintEl);
}

/** A checkbox with its label after it. */
export function checkbox(label, attrs = {}) {
  const input = h("input", {type: "checkbox", id: uid(), ...attrs});
  return {input, el: h("div", {class: "field check"}, input, h("label", {for: input.id}, label))};
}

/** An error box (role=alert) that views fill with API errors in words. */
export function errorBox() {
  const el = h("div", {class: "error", role: "alert", hidden: true});
  return {
    el,
    show(error) {
      el.hidden = false;
      fill(el, error && error.message ? error.message : String(error));
    },
    clear() { el.hidden = true; el.replaceChildren(); },
  };
}

const dateFormat = new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "medium"});

/** A timestamp in the reader's local time, or an em dash. */
export function formatTime(iso, timeZone) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (timeZone) {
    try {
      return `${new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "medium",
        timeZone}).format(date)} ${timeZone}`;
    } catch {
      return dateFormat.format(date);  // a zone this browser does not know
    }
  }
  return dateFormat.format(date);
}

/** "in 4 min" or "3 h ago". */
export function relativeTime(iso, now = Date.now()) {
  if (!iso) return "—";
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  let text;
  if (abs < 60) text = `${abs} s`;
  else if (abs < 3600) text = `${Math.round(abs / 60)} min`;
  else if (abs < 86400) text = `${Math.round(abs / 3600)} h`;
  else text = `${Math.round(abs / 86400)} d`;
  if (abs < 1) return "now";
  return seconds > 0 ? `in ${text}` : `${text} ago`;
}

/** A <time> element showing relative time with the full time as tooltip. */
export function timeEl(iso) {
  if (!iso) return h("span", {class: "muted"}, "—");
  return h("time", {datetime: iso, title: formatTime(iso)}, relativeTime(iso));
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  return `${(ms / 60000).toFixed(1)} min`;
}

/** Milliseconds between when a run was due and when it started, or null. */
export function lateness(result) {
  if (!result.scheduled_at || !result.started_at) return null;
  return new Date(result.started_at).getTime() - new Date(result.scheduled_at).getTime();
}

const UNIT_WORDS = {seconds: "second", minutes: "minute", hours: "hour", days: "day"};
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December"];
const ALIASES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"};

const isNum = (text) => /^\d+$/.test(text);
const pad = (n) => String(n).padStart(2, "0");

const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

function dayName(token) {
  const index = isNum(token) ? Number(token) % 7 : DAY_NAMES.indexOf(token.toLowerCase());
  return index < 0 ? null : DAYS[index];
}

function dayWords(field) {
  if (field === "*") return null;
  if (field === "0,6" || field === "6,0") return "on Saturdays and Sundays";
  const range = field.match(/^(\w+)-(\w+)$/);
  if (range && dayName(range[1]) && dayName(range[2])) {
    return `${dayName(range[1])} to ${dayName(range[2])}`;
  }
  const names = field.split(",").map(dayName);
  if (names.every(Boolean)) return names.length === 1 ? `every ${names[0]}` : `on ${names.join(", ")}`;
  return `on weekdays ${field}`;
}

/** A cron expression in plain English where it is a common shape, else the expression. */
export function cronWords(expression) {
  const text = ALIASES[(expression || "").trim().toLowerCase()] || (expression || "").trim();
  const fields = text.split(/\s+/);
  if (fields.length !== 5) return `cron ${expression}`;
  const [minute, hour, dom, month, dow] = fields;
  const step = /^\*\/(\d+)$/;
  if (dom === "*" && month === "*" && dow === "*") {
    if (minute === "*" && hour === "*") return "every minute";
    if (step.test(minute) && hour === "*") return `every ${minute.match(step)[1]} minutes`;
    if (isNum(minute) && hour === "*") return `every hour at minute ${Number(minute)}`;
    if (isNum(minute) && step.test(hour)) {
      return `every ${hour.match(step)[1]} hours at minute ${Number(minute)}`;
    }
  }
  const hours = hour.match(/^(\d+)-(\d+)$/);
  if ((minute === "*" || step.test(minute)) && hours && dom === "*" && month === "*") {
    const every = minute === "*" ? "every minute" : `every ${minute.match(step)[1]} minutes`;
    const days = dayWords(dow);
    return `${every} from ${pad(hours[1])}:00 to ${pad(hours[2])}:59${days ? `, ${days}` : ""}`;
  }
  if (isNum(minute) && isNum(hour)) {
    const at = `at ${pad(hour)}:${pad(minute)}`;
    const days = dayWords(dow);
    if (dom === "*" && month === "*") return days ? `${days} ${at}` : `every day ${at}`;
    if (isNum(dom) && month === "*" && !days) return `on day ${Number(dom)} of every month ${at}`;
    if (isNum(dom) && isNum(month) && !days) {
      return `every year on ${MONTHS[Number(month) - 1] || month} ${Number(dom)} ${at}`;
    }
  }
  return `cron “${text}”`;
}

/** A schedule in words: "every 5 minutes", "once, 10 seconds after it is set". */
export function scheduleWords(schedule) {
  if (!schedule) return "—";
  let words;
  if (schedule.type === "cron") {
    words = cronWords(schedule.cron);
    if (schedule.timezone && schedule.timezone !== "UTC") words += ` (${schedule.timezone})`;
    else words += " (UTC)";
    return schedule.is_repeat === false ? `once, at the next match of: ${words}` : words;
  }
  const unit = UNIT_WORDS[schedule.type] || schedule.type;
  const value = Number(schedule.value);
  const span = value === 1 ? `${unit}` : `${value} ${unit}s`;
  return schedule.is_repeat === false ? `once, ${value === 1 ? "1 " : ""}${span} after it is set`
    : `every ${span}`;
}

/** A coloured status pill with a word, so colour is never the only signal. */
export function statusPill(status) {
  if (status === "running") return h("span", {class: "pill running"}, "● running");
  if (status === "success") return h("span", {class: "pill ok"}, "✓ success");
  if (status === "failure") return h("span", {class: "pill bad"}, "✗ failure");
  return h("span", {class: "pill none"}, "never run");
}

/** A JSON value or text, pretty-printed when it is JSON. */
export function pretty(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

/** Parses "a=1&b=2" query text of the location hash into an object. */
export function parseQuery(text) {
  return Object.fromEntries(new URLSearchParams(text || ""));
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
