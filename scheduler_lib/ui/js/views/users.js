// User administration (superusers): list, create, edit, delete.

import {api, currentUser} from "../api.js";
import {checkbox, errorBox, field, formatTime, h} from "../dom.js";
import {confirmed, pageOf, pager} from "../parts.js";

export async function renderList(ctx) {
  const {limit, offset} = pageOf(ctx.query, 50);
  const reply = await api("GET", "/user", {query: {limit, offset}});
  const total = reply.total ?? reply.data.length;
  const me = currentUser();
  const errors = errorBox();
  const rows = reply.data.map((u) => h("tr", {},
    h("td", {"data-label": "Id"}, String(u.id)),
    h("th", {scope: "row", "data-label": "Username"}, h("a", {href: `#/users/${u.id}`}, u.username)),
    h("td", {"data-label": "E-mail"}, u.email),
    h("td", {"data-label": "Superuser"}, u.is_superuser ? "yes" : "no"),
    h("td", {"data-label": "Created"}, formatTime(u.created_at)),
    h("td", {"data-label": ""}, u.id === me.id ? h("span", {class: "muted"}, "you")
      : h("button", {type: "button", class: "btn danger small", "aria-label": `Delete user ${u.username}`,
        onclick: async () => {
          if (!confirmed(`Delete ${u.username}, their keys, schedules, presets and the jobs only `
            + "they own?")) return;
          try {
            await api("DELETE", `/user/${u.id}`);
            ctx.flash(`User ${u.username} deleted.`, {later: true});
            ctx.navigate("#/users");
          } catch (error) {
            errors.show(error);
          }
        }}, "Delete"))));
  return h("section", {},
    h("div", {class: "title-row"}, h("h1", {}, "Users"), h("a", {class: "btn", href: "#/users/new"},
      "New user")),
    errors.el,
    h("div", {class: "table-wrap"}, h("table", {class: "cards"},
      h("thead", {}, h("tr", {}, ["Id", "Username", "E-mail", "Superuser", "Created"].map((t) =>
        h("th", {scope: "col"}, t)), h("th", {scope: "col"}, h("span", {class: "visually-hidden"},
        "Actions")))),
      h("tbody", {}, rows))),
    total > limit ? pager({base: "/users", query: {}, limit, offset, total, label: "Users"}) : null);
}

export async function renderForm(ctx) {
  const editing = ctx.params.length > 0;
  const id = editing ? Number(ctx.params[0]) : null;
  const original = editing ? (await api("GET", `/user/${id}`)).data
    : {username: "", email: "", is_superuser: false};
  const errors = errorBox();
  const username = h("input", {name: "username", required: true, autocomplete: "off",
    autocapitalize: "none", spellcheck: "false", value: original.username});
  const email = h("input", {name: "email", type: "email", required: true, autocomplete: "off",
    value: original.email});
  const password = h("input", {name: "password", type: "password", autocomplete: "new-password",
    minlength: "8", required: !editing});
  const superuser = checkbox("Superuser (can manage users and see every job)",
    {name: "is_superuser", checked: original.is_superuser});
  const submit = h("button", {type: "submit", class: "btn"}, editing ? "Save changes" : "Create user");
  const form = h("form", {class: "card", novalidate: true}, errors.el,
    h("div", {class: "grid"},
      field("Username", username, "3–150 characters: letters, digits, . _ -"),
      field("E-mail", email),
      field(editing ? "New password (leave empty to keep)" : "Password", password,
        "At least 8 characters.")),
    superuser.el,
    h("div", {class: "actions"}, submit, h("a", {class: "btn secondary", href: "#/users"}, "Cancel")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    const body = {username: username.value.trim(), email: email.value.trim(),
      is_superuser: superuser.input.checked};
    if (password.value) body.password = password.value;
    if (editing) {
      for (const key of ["username", "email", "is_superuser"]) {
        if (body[key] === original[key]) delete body[key];
      }
    }
    submit.disabled = true;
    try {
      const reply = editing ? await api("PATCH", `/user/${id}`, {body})
        : await api("POST", "/user", {body});
      ctx.flash(reply.message, {later: true});
      ctx.navigate("#/users");
    } catch (error) {
      errors.show(error);
    } finally {
      submit.disabled = false;
    }
  });
  return h("section", {},
    h("p", {class: "crumbs"}, h("a", {href: "#/users"}, "← All users")),
    h("h1", {}, editing ? `Edit user ${original.username}` : "New user"), form);
}
