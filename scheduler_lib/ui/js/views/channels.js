// Notification channels: where alerts go (signed webhooks, e-mail, Apprise URLs), with
// a test button that shows the answer, secret rotation (shown once), and the log of
// recent deliveries with their errors. ``deliveriesTable`` is shared with the job page.

import {api} from "../api.js";
import {errorBox, field, fill, formatTime, h} from "../dom.js";
import {confirmed} from "../parts.js";

const TYPES = [
  ["webhook", "Webhook (signed JSON POST)", "https://example.com/hooks/scheduler"],
  ["email", "E-mail", "ops@example.com"],
  ["apprise", "Apprise URL (Slack, Discord, Telegram, ntfy, …)", "slack://TokenA/TokenB/TokenC"],
];
const STATUS_PILLS = {sent: "ok", failed: "bad", pending: "none"};

/** A box that shows a webhook secret once, with the words that say so. */
function secretBox(channel) {
  return h("div", {class: "notice secret", role: "status"},
    h("p", {}, `Signing secret of “${channel.name}” — copy it now, it is not shown again:`),
    h("code", {class: "wrap", "data-secret": ""}, channel.secret),
    h("p", {class: "hint"}, "Each webhook carries X-Scheduler-Signature: sha256=HMAC-SHA256 "
      + "of the exact body, keyed with this secret."));
}

/** Recent deliveries (newest first) with status, tries and the last error. */
export async function deliveriesTable(query, channelNames = new Map()) {
  const reply = await api("GET", "/notify/delivery", {query: {limit: 20, ...query}});
  if (!reply.data.length) return h("p", {class: "empty"}, "No deliveries yet.");
  return h("div", {class: "table-wrap"}, h("table", {class: "cards deliveries"},
    h("thead", {}, h("tr", {}, ["When", "Event", "Channel", "Job", "Status", "Tries", "Error"]
      .map((t) => h("th", {scope: "col"}, t)))),
    h("tbody", {}, reply.data.map((d) => h("tr", {"data-delivery-id": d.id},
      h("td", {"data-label": "When"}, formatTime(d.sent_at || d.created_at)),
      h("td", {"data-label": "Event"}, d.event),
      h("td", {"data-label": "Channel"}, channelNames.get(d.channel_id) || `#${d.channel_id}`),
      h("td", {"data-label": "Job"}, d.fetch_id ? h("a", {href: `#/jobs/${d.fetch_id}`},
        `#${d.fetch_id}`) : "—"),
      h("td", {"data-label": "Status"}, h("span", {class: `pill ${STATUS_PILLS[d.status]}`},
        d.status)),
      h("td", {"data-label": "Tries"}, String(d.attempts)),
      d.error ? h("td", {"data-label": "Error", class: "error-text"}, d.error)
        : h("td", {"data-label": "Error", class: "muted"}, "—"))))));
}

function channelRow(ctx, channel, errors, shown) {
  const answer = h("span", {class: "muted", "aria-live": "polite"});
  const test = h("button", {type: "button", class: "btn secondary small",
    "aria-label": `Test channel ${channel.name}`, onclick: async () => {
      errors.clear();
      test.disabled = true;
      fill(answer, "Sending…");
      try {
        const reply = await api("POST", `/notify/channel/${channel.id}/test`);
        answer.className = "ok-text";
        fill(answer, `✓ ${reply.message}`);
      } catch (error) {
        answer.className = "error-text";
        fill(answer, `✗ ${error.message}`);
      } finally {
        test.disabled = false;
      }
    }}, "Test");
  const rotate = channel.type === "webhook" ? h("button", {type: "button",
    class: "btn secondary small", "aria-label": `Rotate the secret of ${channel.name}`,
    onclick: async () => {
      if (!confirmed(`Make a new secret for “${channel.name}”? The old one stops working now.`)) {
        return;
      }
      try {
        const reply = await api("POST", `/notify/channel/${channel.id}/rotate-secret`);
        fill(shown, secretBox(reply.data));
      } catch (error) {
        errors.show(error);
      }
    }}, "Rotate secret") : null;
  const remove = h("button", {type: "button", class: "btn danger small",
    "aria-label": `Delete channel ${channel.name}`, onclick: async () => {
      if (!confirmed(`Delete the channel “${channel.name}” and its subscriptions?`)) return;
      try {
        await api("DELETE", `/notify/channel/${channel.id}`);
        ctx.flash(`Channel “${channel.name}” deleted.`, {later: true});
        ctx.navigate("#/channels");
      } catch (error) {
        errors.show(error);
      }
    }}, "Delete");
  return h("tr", {"data-channel-id": channel.id},
    h("th", {scope: "row", "data-label": "Name"}, channel.name),
    h("td", {"data-label": "Type"}, channel.type),
    h("td", {"data-label": "Target"}, h("code", {class: "wrap"}, channel.target)),
    h("td", {"data-label": ""}, h("div", {class: "toolbar"}, test, rotate, remove), answer));
}

function createForm(ctx, shown) {
  const errors = errorBox();
  const name = h("input", {name: "name", required: true, maxlength: "200"});
  const type = h("select", {name: "type"}, TYPES.map(([value, text]) => h("option", {value}, text)));
  const target = h("input", {name: "target", required: true, class: "mono"});
  const syncPlaceholder = () => {
    target.placeholder = TYPES.find(([value]) => value === type.value)[2];
  };
  type.addEventListener("change", syncPlaceholder);
  syncPlaceholder();
  const submit = h("button", {type: "submit", class: "btn"}, "Create channel");
  const form = h("form", {class: "card", novalidate: true, "aria-labelledby": "new-channel"},
    h("h2", {id: "new-channel"}, "New channel"), errors.el,
    h("div", {class: "grid"}, field("Name", name), field("Type", type),
      field("Target", target, "A URL for webhooks and Apprise, an address for e-mail.")),
    h("div", {class: "actions"}, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    if (!name.value.trim() || !target.value.trim()) {
      errors.show("Name and target: both are needed.");
      return;
    }
    submit.disabled = true;
    try {
      const reply = await api("POST", "/notify/channel", {body: {
        name: name.value.trim(), type: type.value, target: target.value.trim()}});
      ctx.flash(`${reply.message} (${reply.data.name})`);
      name.value = "";
      target.value = "";
      fill(shown, reply.data.secret ? secretBox(reply.data) : null);
      await ctx.reload();
    } catch (error) {
      errors.show(error);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export async function render(ctx) {
  const errors = errorBox();
  const shown = h("div");
  const listSlot = h("div");
  const logSlot = h("div");
  async function reload() {
    const reply = await api("GET", "/notify/channel", {query: {limit: 1000}});
    const names = new Map(reply.data.map((c) => [c.id, c.name]));
    fill(listSlot, reply.data.length ? h("div", {class: "table-wrap"}, h("table", {class: "cards"},
      h("thead", {}, h("tr", {}, ["Name", "Type", "Target"].map((t) => h("th", {scope: "col"}, t)),
        h("th", {scope: "col"}, h("span", {class: "visually-hidden"}, "Actions")))),
      h("tbody", {}, reply.data.map((c) => channelRow(ctx, c, errors, shown)))))
      : h("p", {class: "empty card"}, "No channels yet."));
    fill(logSlot, await deliveriesTable({}, names));
  }
  await reload();
  const form = createForm({...ctx, reload}, shown);
  return h("section", {},
    h("h1", {}, "Notification channels"),
    h("p", {class: "muted"}, "Where alerts go. Subscribe a channel to a job on the job’s page."),
    errors.el, shown, listSlot, form,
    h("section", {class: "card", "aria-labelledby": "deliveries-title"},
      h("div", {class: "title-row"}, h("h2", {id: "deliveries-title"}, "Recent deliveries"),
        h("button", {type: "button", class: "btn secondary small", onclick: () => reload()},
          "Refresh")),
      logSlot));
}
