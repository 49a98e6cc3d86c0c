// Success rules (a job's "assertions"): their words, the editor rows of the job
// form, and a failed result's error that names the rule which failed.

import {field, h} from "./dom.js";

const TYPES = [
  ["body_contains", "Body contains"],
  ["body_not_contains", "Body does not contain"],
  ["body_regex", "Body matches regex"],
  ["json_path", "JSONPath"],
  ["header", "Header"],
  ["max_duration_ms", "Takes under (ms)"],
];
const JSON_PATH_OPS = ["==", "!=", "<", "<=", ">", ">=", "contains", "exists", "not_exists"];
const HEADER_OPS = ["==", "!=", "contains", "exists", "not_exists"];
const PRESENCE = ["exists", "not_exists"];
const OP_WORDS = {exists: "exists", not_exists: "does not exist"};

const shown = (value) => JSON.stringify(value);

function opWords(subject, op, value) {
  return PRESENCE.includes(op) ? `${subject} ${OP_WORDS[op]}` : `${subject} ${op} ${shown(value)}`;
}

/** A rule in words, as the server names it in a failed result's error. */
export function ruleWords(rule) {
  switch (rule.type) {
    case "body_contains": return `body contains ${shown(rule.value)}`;
    case "body_not_contains": return `body does not contain ${shown(rule.value)}`;
    case "body_regex": return `body matches /${rule.value}/`;
    case "json_path": return opWords(rule.path, rule.op, rule.value);
    case "header": return opWords(`header ${rule.name}`, rule.op, rule.value);
    case "max_duration_ms": return `takes under ${rule.value} ms`;
    default: return JSON.stringify(rule);
  }
}

/** The job page's list of rules, or null when there are none. */
export function rulesList(rules) {
  if (!rules || !rules.length) return null;
  return h("ul", {class: "rules"}, rules.map((rule) => h("li", {}, h("code", {}, ruleWords(rule)))));
}

const FAILED = /^assertion failed: (.*) \((.*)\)$/s;

/** A result's error; a failed rule shows as "Rule failed: <rule>", then what was seen. */
export function errorText(error) {
  const match = FAILED.exec(error || "");
  if (!match) return error;
  return h("span", {class: "rule-failed"}, "Rule failed: ", h("code", {}, match[1]),
    h("br"), `(${match[2]})`);
}

/** A JSONPath value as typed: JSON when it parses (5, true, "5"), else the text. */
function typedValue(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The text that ``typedValue`` reads back as ``value``. */
function valueText(value) {
  if (value === undefined) return "";
  return typeof value === "string" && typedValue(value) === value ? value : JSON.stringify(value);
}

function select(name, options, selected) {
  return h("select", {name}, options.map(([value, text]) =>
    h("option", {value, selected: value === selected}, text)));
}

function ruleRow(rule, onRemove) {
  const type = select("rule-type", TYPES, rule.type);
  const text = h("input", {name: "rule-value", value: rule.type !== "max_duration_ms"
    && rule.type !== "json_path" ? rule.value ?? "" : "", placeholder: "ok"});
  const path = h("input", {name: "rule-path", class: "mono", value: rule.path ?? "",
    placeholder: "$.status"});
  const headerName = h("input", {name: "rule-header", value: rule.name ?? "",
    placeholder: "Content-Type"});
  const jsonOp = select("rule-op", JSON_PATH_OPS.map((op) => [op, op]),
    rule.type === "json_path" ? rule.op : "==");
  const headerOp = select("rule-header-op", HEADER_OPS.map((op) => [op, op]),
    rule.type === "header" ? rule.op : "contains");
  const jsonValue = h("input", {name: "rule-json-value", class: "mono",
    value: rule.type === "json_path" ? valueText(rule.value) : "", placeholder: "\"ok\""});
  const ms = h("input", {name: "rule-ms", type: "number", min: "1", max: "300000",
    value: rule.type === "max_duration_ms" ? String(rule.value) : "500"});
  const parts = {
    text: field("Text", text),
    path: field("JSONPath", path),
    jsonOp: field("Comparison", jsonOp),
    jsonValue: field("Value", jsonValue, "JSON (5, true, \"5\"); other text is a string."),
    headerName: field("Header name", headerName),
    headerOp: field("Comparison", headerOp),
    ms: field("Milliseconds", ms),
  };
  const shownFor = {
    body_contains: ["text"], body_not_contains: ["text"], body_regex: ["text"],
    json_path: ["path", "jsonOp", "jsonValue"], header: ["headerName", "headerOp", "text"],
    max_duration_ms: ["ms"],
  };
  function sync() {
    const wanted = new Set(shownFor[type.value]);
    if (type.value === "json_path" && PRESENCE.includes(jsonOp.value)) wanted.delete("jsonValue");
    if (type.value === "header" && PRESENCE.includes(headerOp.value)) wanted.delete("text");
    for (const [key, el] of Object.entries(parts)) el.hidden = !wanted.has(key);
  }
  for (const control of [type, jsonOp, headerOp]) control.addEventListener("change", sync);
  sync();
  const remove = h("button", {type: "button", class: "btn danger small", "data-action": "remove-rule"},
    "Remove");
  const el = h("div", {class: "rule-row"}, field("Rule", type), Object.values(parts), remove);
  remove.addEventListener("click", () => onRemove(row));
  const row = {
    el,
    value() {
      switch (type.value) {
        case "json_path": {
          const value = {type: "json_path", path: path.value.trim(), op: jsonOp.value};
          if (!PRESENCE.includes(jsonOp.value)) value.value = typedValue(jsonValue.value);
          return value;
        }
        case "header": {
          const value = {type: "header", name: headerName.value.trim(), op: headerOp.value};
          if (!PRESENCE.includes(headerOp.value)) value.value = text.value;
          return value;
        }
        case "max_duration_ms": return {type: "max_duration_ms", value: Number(ms.value)};
        default: return {type: type.value, value: text.value};
      }
    },
  };
  return row;
}

/** The job form's rules editor: one row per rule, add and remove. */
export function rulesEditor(rules) {
  const list = h("div", {class: "rule-rows"});
  let rows = [];
  const empty = h("p", {class: "muted"}, "No rules: the expected status alone decides.");
  function remove(row) {
    rows = rows.filter((r) => r !== row);
    row.el.remove();
    empty.hidden = rows.length > 0;
  }
  function add(rule) {
    const row = ruleRow(rule, remove);
    rows.push(row);
    list.append(row.el);
    empty.hidden = true;
    return row;
  }
  (rules || []).forEach(add);
  empty.hidden = rows.length > 0;
  const addButton = h("button", {type: "button", class: "btn secondary small",
    "data-action": "add-rule"}, "Add rule");
  addButton.addEventListener("click", () => {
    const row = add({type: "body_contains", value: ""});
    row.el.querySelector("select").focus();
  });
  const el = h("fieldset", {class: "rules-editor"},
    h("legend", {}, "Success rules"),
    h("p", {class: "hint"}, "Checked after the expected status; every rule must hold. "
      + "A failed rule fails the attempt (and is retried)."),
    empty, list, addButton);
  return {el, collect: () => rows.map((row) => row.value())};
}
