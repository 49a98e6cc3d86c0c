// A job's "Notifications" panel: which of my channels hear about which of its events,
// and the recent deliveries for this job.

import {api, currentUser} from "../api.js";
import {checkbox, errorBox, field, fill, h} from "../dom.js";
import {listAll} from "../parts.js";
import {deliveriesTable} from "./channels.js";

const EVENTS = [
  ["failure", "Failure (once per streak)"],
  ["recovery", "Recovery"],
  ["success", "Every success"],
  ["paused", "Paused after failures"],
];

function eventBoxes(checked, prefix) {
  const boxes = EVENTS.map(([value, label]) => ({value, ...checkbox(label,
    {name: `${prefix}-${value}`, value, checked: checked.includes(value)})}));
  return {boxes, values: () => boxes.filter((b) => b.input.checked).map((b) => b.value)};
}

export async function notificationsSection(ctx, job, isOwner) {
  const me = currentUser();
  const errors = errorBox();
  const [subscriptions, channels] = await Promise.all([
    api("GET", `/fetch/${job.id}/notify`, {query: {limit: 1000}}).then((r) => r.data),
    listAll("/notify/channel"),
  ]);
  const names = new Map(channels.map((c) => [c.id, `${c.name} (${c.type})`]));
  const rows = subscriptions.map((s) => {
    const mine = s.user_id === me.id || isOwner;
    const choice = eventBoxes(s.events, `sub-${s.id}`);
    const save = h("button", {type: "button", class: "btn secondary small", onclick: async () => {
      errors.clear();
      try {
        await api("PATCH", `/fetch/${job.id}/notify/${s.id}`, {body: {events: choice.values()}});
        ctx.flash("Notification updated.");
      } catch (error) {
        errors.show(error);
      }
    }}, "Save");
    const remove = h("button", {type: "button", class: "btn danger small", onclick: async () => {
      try {
        await api("DELETE", `/fetch/${job.id}/notify/${s.id}`);
        ctx.flash("Notification removed.", {later: true});
        ctx.navigate(`#/jobs/${job.id}`);
      } catch (error) {
        errors.show(error);
      }
    }}, "Remove");
    return h("li", {class: "subscription", "data-subscription-id": s.id},
      h("strong", {}, names.get(s.channel_id) || `channel #${s.channel_id}`),
      mine ? h("fieldset", {class: "checks"}, h("legend", {class: "visually-hidden"}, "Events"),
        choice.boxes.map((b) => b.el)) : h("span", {}, ` — ${s.events.join(", ")}`),
      mine ? h("div", {class: "toolbar"}, save, remove) : null);
  });
  const taken = new Set(subscriptions.filter((s) => s.user_id === me.id).map((s) => s.channel_id));
  const free = channels.filter((c) => c.user_id === me.id && !taken.has(c.id));
  let addForm = h("p", {class: "muted"}, "Create a channel on the ",
    h("a", {href: "#/channels"}, "Channels page"), " to subscribe it here.");
  if (free.length) {
    const channel = h("select", {name: "channel_id"}, free.map((c) =>
      h("option", {value: String(c.id)}, `${c.name} (${c.type})`)));
    const choice = eventBoxes(["failure", "recovery"], "new");
    addForm = h("form", {class: "inline-form", onsubmit: async (event) => {
      event.preventDefault();
      errors.clear();
      try {
        await api("POST", `/fetch/${job.id}/notify`,
          {body: {channel_id: Number(channel.value), events: choice.values()}});
        ctx.flash("Notification added.", {later: true});
        ctx.navigate(`#/jobs/${job.id}`);
      } catch (error) {
        errors.show(error);
      }
    }}, field("Channel", channel),
    h("fieldset", {class: "checks"}, h("legend", {}, "Events"), choice.boxes.map((b) => b.el)),
    h("div", {class: "actions"}, h("button", {type: "submit", class: "btn"}, "Subscribe")));
  }
  const log = h("div");
  fill(log, await deliveriesTable({fetch_id: job.id}, names));
  return h("section", {class: "card", "aria-labelledby": "notify-title"},
    h("h2", {id: "notify-title"}, "Notifications"),
    h("p", {class: "muted"}, `Failure fires after ${job.alert_after_failures} failed run(s) in a `
      + "row, once per streak; "
      + (job.pause_after_failures ? `the job pauses after ${job.pause_after_failures}.`
        : "the job never pauses by itself.")
      + ` Failed runs in a row now: ${job.consecutive_failures}.`),
    errors.el,
    rows.length ? h("ul", {class: "subscriptions"}, rows)
      : h("p", {class: "empty"}, "Nobody is notified about this job yet."),
    addForm,
    h("h3", {}, "Recent deliveries"), log);
}
