// API keys: list, create, rename, rotate, delete. A new key is shown once.

import {api} from "../api.js";
import {errorBox, field, formatTime, h} from "../dom.js";
import {confirmed} from "../parts.js";

// What each scope lets a key do (API.md section 4); the default is "write".
const SCOPES = [
  ["read", "Read: GET requests only"],
  ["write", "Write: jobs, schedules, presets, results, members"],
  ["admin", "Admin: also API keys, your profile and superuser routes"],
];

function revealBox(key, label) {
  const input = h("input", {readonly: true, value: key, class: "mono", id: "new-key",
    onfocus: (e) => e.target.select()});
  const copy = h("button", {type: "button", class: "btn secondary small", onclick: async () => {
    try {
      await navigator.clipboard.writeText(key);
      copy.textContent = "Copied";
    } catch {
      input.select();
      copy.textContent = "Press Ctrl+C to copy";
    }
  }}, "Copy");
  return h("div", {class: "reveal", role: "region", "aria-labelledby": "reveal-title"},
    h("h2", {id: "reveal-title"}, label),
    h("p", {}, h("strong", {}, "Copy it now: it will not be shown again. "),
      "Send it as the X-API-Key header."),
    h("div", {class: "inline-form"}, h("label", {for: input.id, class: "visually-hidden"}, "API key"),
      input, copy));
}

/** Re-renders the page with a fresh list and the new key revealed above it. */
async function showWithKey(ctx, key, label, message) {
  const page = await render(ctx);
  if (!ctx.isCurrent()) return;
  const main = document.getElementById("main");
  main.replaceChildren(page);
  ctx.flash(message);
  const slot = main.querySelector("[data-reveal]");
  slot.replaceChildren(revealBox(key, label));
  slot.querySelector("input").focus();
}

export async function render(ctx) {
  const reply = await api("GET", "/user/apikey", {query: {limit: 1000}});
  const errors = errorBox();
  const revealSlot = h("div", {"data-reveal": ""});
  const rows = reply.data.map((k) => h("tr", {},
    h("th", {scope: "row", "data-label": "Name"}, k.name),
    h("td", {"data-label": "Description"}, k.description || "—"),
    h("td", {"data-label": "Scope"}, k.scope),
    h("td", {"data-label": "Starts with"}, h("code", {}, `${k.prefix}…`)),
    h("td", {"data-label": "Expires"}, k.expires_at ? formatTime(k.expires_at) : "never"),
    h("td", {"data-label": "Last used"}, k.last_used_at ? formatTime(k.last_used_at) : "never"),
    h("td", {"data-label": "Created"}, formatTime(k.created_at)),
    h("td", {"data-label": "", class: "row-actions"},
      h("button", {type: "button", class: "btn secondary small", "aria-label": `Rotate key ${k.name}`,
        onclick: async () => {
          if (!confirmed(`Rotate “${k.name}”? The current key stops working at once.`)) return;
          errors.clear();
          try {
            const r = await api("POST", `/user/apikey/${k.id}/rotate`);
            await showWithKey(ctx, r.data.key, `New key for “${k.name}”`, r.message);
          } catch (error) {
            errors.show(error);
          }
        }}, "Rotate"),
      h("button", {type: "button", class: "btn danger small", "aria-label": `Delete key ${k.name}`,
        onclick: async () => {
          if (!confirmed(`Delete the API key “${k.name}”?`)) return;
          try {
            await api("DELETE", `/user/apikey/${k.id}`);
            ctx.flash(`API key “${k.name}” deleted.`, {later: true});
            ctx.navigate("#/keys");
          } catch (error) {
            errors.show(error);
          }
        }}, "Delete"))));
  const name = h("input", {name: "name", required: true, maxlength: "255"});
  const description = h("input", {name: "description", maxlength: "1000"});
  const expires = h("input", {name: "expires_at", type: "number", min: "0", step: "1", value: "0"});
  const scope = h("select", {name: "scope"}, SCOPES.map(([value, label]) =>
    h("option", {value, selected: value === "write"}, label)));
  const createErrors = errorBox();
  const form = h("form", {class: "card", novalidate: true, "aria-labelledby": "new-key-title"},
    h("h2", {id: "new-key-title"}, "New API key"), createErrors.el,
    h("div", {class: "grid"}, field("Name", name), field("Description", description),
      field("Expires after (days)", expires, "0 means it never expires."),
      field("Scope", scope, "What the key may do; it can be lowered later, never raised.")),
    h("div", {class: "actions"}, h("button", {type: "submit", class: "btn"}, "Create key")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    createErrors.clear();
    const days = Number(expires.value || 0);
    if (!name.value.trim()) {
      createErrors.show("Name: give the key a name.");
      name.focus();
      return;
    }
    if (!Number.isInteger(days) || days < 0) {
      createErrors.show("Expires after: a whole number of days, 0 for never.");
      expires.focus();
      return;
    }
    try {
      const body = {name: name.value.trim(), description: description.value, expires_at: days,
        scope: scope.value};
      const r = await api("POST", "/user/apikey", {body});
      await showWithKey(ctx, r.data.key, `Your new key “${r.data.name}”`, r.message);
    } catch (error) {
      createErrors.show(error);
    }
  });
  return h("section", {},
    h("h1", {}, "API keys"),
    h("p", {class: "muted"}, "Scripts can call the API with a key instead of logging in: "
      + "send it as the X-API-Key header. Only its first characters are kept in view."),
    revealSlot, errors.el,
    reply.data.length ? h("div", {class: "table-wrap"}, h("table", {class: "cards"},
      h("thead", {}, h("tr", {}, ["Name", "Description", "Scope", "Starts with", "Expires",
        "Last used",
        "Created"].map((t) => h("th", {scope: "col"}, t)),
      h("th", {scope: "col"}, h("span", {class: "visually-hidden"}, "Actions")))),
      h("tbody", {}, rows))) : h("p", {class: "empty card"}, "No API keys yet."),
    form);
}
