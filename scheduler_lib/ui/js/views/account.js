// The caller's own profile: username, e-mail and password (PATCH /user/me).

import {api, currentUser, logout, reloadUser} from "../api.js";
import {errorBox, field, h} from "../dom.js";

export async function render(ctx) {
  const me = (await api("GET", "/user/me")).data;
  const errors = errorBox();
  const username = h("input", {name: "username", autocomplete: "username", value: me.username});
  const email = h("input", {name: "email", type: "email", autocomplete: "email", value: me.email});
  const current = h("input", {name: "current_password", type: "password",
    autocomplete: "current-password"});
  const password = h("input", {name: "password", type: "password", autocomplete: "new-password"});
  const form = h("form", {class: "card", novalidate: true}, errors.el,
    h("div", {class: "grid"}, field("Username", username), field("E-mail", email)),
    h("fieldset", {}, h("legend", {}, "Change password"),
      h("div", {class: "grid"}, field("Current password", current),
        field("New password", password, "At least 8 characters. Other sessions are logged out."))),
    h("div", {class: "actions"}, h("button", {type: "submit", class: "btn"}, "Save")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    const body = {};
    if (username.value.trim() !== me.username) body.username = username.value.trim();
    if (email.value.trim() !== me.email) body.email = email.value.trim();
    if (password.value) {
      body.password = password.value;
      body.current_password = current.value;
    }
    if (!Object.keys(body).length) {
      ctx.flash("Nothing changed.");
      return;
    }
    try {
      const reply = await api("PATCH", "/user/me", {body});
      if (body.password) {
        // A password change revokes every token issued before it, this session's too.
        await logout();
        ctx.flash("Password changed. Log in again with the new password.", {later: true});
        ctx.navigate("#/login");
        return;
      }
      await reloadUser();
      ctx.flash(reply.message, {later: true});
      ctx.navigate("#/account");
    } catch (error) {
      errors.show(error);
    }
  });
  return h("section", {}, h("h1", {}, "Your account"),
    h("p", {class: "muted"}, `You are user #${me.id}${currentUser().is_superuser ? ", a superuser" : ""}. `
      + "Give your id to a job's owner to be added to it."),
    form);
}
