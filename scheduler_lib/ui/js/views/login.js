// The login page: username or e-mail and password, via POST /login.

import {isLoggedIn, login} from "../api.js";
import {errorBox, field, h} from "../dom.js";

export async function render(ctx) {
  const next = ctx.query.next && ctx.query.next.startsWith("/") ? ctx.query.next : "/jobs";
  if (isLoggedIn()) {
    ctx.navigate(`#${next}`);
    return h("p", {}, "Already logged in.");
  }
  const identifier = h("input", {name: "identifier", autocomplete: "username", required: true,
    autocapitalize: "none", spellcheck: "false"});
  const password = h("input", {name: "password", type: "password",
    autocomplete: "current-password", required: true});
  const errors = errorBox();
  const submit = h("button", {type: "submit", class: "btn"}, "Log in");
  const form = h("form", {class: "card narrow", novalidate: true},
    h("h1", {}, "Log in"),
    h("p", {class: "muted"}, "Use your username or e-mail address."),
    errors.el,
    field("Username or e-mail", identifier),
    field("Password", password),
    h("div", {class: "actions"}, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    if (!identifier.value.trim() || !password.value) {
      errors.show("Enter your username or e-mail and your password.");
      (identifier.value.trim() ? password : identifier).focus();
      return;
    }
    submit.disabled = true;
    try {
      const user = await login(identifier.value.trim(), password.value);
      ctx.flash(`Welcome ${user.username}!`, {later: true});
      ctx.navigate(`#${next}`);
    } catch (error) {
      errors.show(error);
      password.select();
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  return h("section", {class: "center"}, form);
}
