// Header presets: reusable request headers (name → value) that jobs can refer to.

import {api} from "../api.js";
import {errorBox, field, formatTime, h} from "../dom.js";
import {confirmed, pageOf, pager} from "../parts.js";

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export async function renderList(ctx) {
  const {limit, offset} = pageOf(ctx.query, 50);
  const reply = await api("GET", "/fetch/header", {query: {limit, offset}});
  const total = reply.total ?? reply.data.length;
  const errors = errorBox();
  const rows = reply.data.map((p) => h("tr", {},
    h("th", {scope: "row", "data-label": "Name"}, h("a", {href: `#/headers/${p.id}`}, p.name)),
    h("td", {"data-label": "Headers"}, Object.keys(p.headers || {}).join(", ") || "—"),
    h("td", {"data-label": "Updated"}, formatTime(p.updated_at)),
    h("td", {"data-label": ""}, h("button", {type: "button", class: "btn danger small",
      "aria-label": `Delete header preset ${p.name}`, onclick: async () => {
        if (!confirmed(`Delete the header preset “${p.name}”? Jobs using it keep running without it.`)) {
          return;
        }
        try {
          await api("DELETE", `/fetch/header/${p.id}`);
          ctx.flash(`Header preset “${p.name}” deleted.`, {later: true});
          ctx.navigate("#/headers");
        } catch (error) {
          errors.show(error);
        }
      }}, "Delete"))));
  return h("section", {},
    h("div", {class: "title-row"}, h("h1", {}, "Header presets"),
      h("a", {class: "btn", href: "#/headers/new"}, "New header preset")),
    h("p", {class: "muted"}, "Request headers (e.g. Authorization) that jobs can share."),
    errors.el,
    total ? h("div", {class: "table-wrap"}, h("table", {class: "cards"},
      h("thead", {}, h("tr", {}, ["Name", "Headers", "Updated"].map((t) => h("th", {scope: "col"}, t)),
        h("th", {scope: "col"}, h("span", {class: "visually-hidden"}, "Actions")))),
      h("tbody", {}, rows))) : h("p", {class: "empty card"}, "No header presets yet."),
    total > limit ? pager({base: "/headers", query: {}, limit, offset, total, label: "Presets"}) : null);
}

function headerRow(list, name = "", value = "") {
  const index = list.children.length + 1;
  const nameInput = h("input", {value: name, "aria-label": `Header ${index} name`,
    placeholder: "Authorization", autocapitalize: "none", spellcheck: "false", class: "mono"});
  const valueInput = h("input", {value, "aria-label": `Header ${index} value`, class: "mono",
    placeholder: "Bearer …"});
  const row = h("li", {class: "header-row"}, nameInput, valueInput,
    h("button", {type: "button", class: "btn secondary small", "aria-label": `Remove header ${index}`,
      onclick: () => row.remove()}, "Remove"));
  list.append(row);
  return nameInput;
}

export async function renderForm(ctx) {
  const editing = ctx.params.length > 0;
  const id = editing ? Number(ctx.params[0]) : null;
  const original = editing ? (await api("GET", `/fetch/header/${id}`)).data : {name: "", headers: {}};
  const errors = errorBox();
  const name = h("input", {name: "name", required: true, maxlength: "255", value: original.name});
  const list = h("ul", {class: "header-rows"});
  const entries = Object.entries(original.headers || {});
  if (entries.length) for (const [k, v] of entries) headerRow(list, k, v);
  else headerRow(list);
  const submit = h("button", {type: "submit", class: "btn"}, editing ? "Save changes" : "Create preset");
  const form = h("form", {class: "card", novalidate: true}, errors.el,
    field("Name", name),
    h("fieldset", {}, h("legend", {}, "Headers"), list,
      h("button", {type: "button", class: "btn secondary small",
        onclick: () => headerRow(list).focus()}, "Add a header")),
    h("div", {class: "actions"}, submit, h("a", {class: "btn secondary", href: "#/headers"}, "Cancel")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    const headers = {};
    for (const row of list.children) {
      const [k, v] = row.querySelectorAll("input");
      if (!k.value.trim() && !v.value) continue;
      if (!TOKEN.test(k.value.trim())) {
        errors.show(`“${k.value}” is not a valid header name (letters, digits and - only).`);
        k.focus();
        return;
      }
      headers[k.value.trim()] = v.value;
    }
    if (!name.value.trim()) {
      errors.show("Name: give the preset a name.");
      name.focus();
      return;
    }
    submit.disabled = true;
    try {
      const body = {name: name.value.trim(), headers};
      const reply = editing ? await api("PATCH", `/fetch/header/${id}`, {body})
        : await api("POST", "/fetch/header", {body});
      ctx.flash(`${reply.message} (${reply.data.name})`, {later: true});
      ctx.navigate("#/headers");
    } catch (error) {
      errors.show(error);
    } finally {
      submit.disabled = false;
    }
  });
  return h("section", {},
    h("p", {class: "crumbs"}, h("a", {href: "#/headers"}, "← All header presets")),
    h("h1", {}, editing ? `Edit header preset ${original.name}` : "New header preset"), form);
}
